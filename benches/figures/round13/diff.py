import sys,re
from collections import Counter
def load(f, tids):
    c=Counter(); t=Counter()
    for l in open(f):
        parts=l.split(None,2)
        if len(parts)<3: continue
        tid=int(parts[0]); rest=parts[2]
        sym=re.sub(r'\s*\(.*\)\s*$','',rest).strip()
        dso='k' if 'kernel' in rest else 'u'
        t[tid]+=1
        if tids(tid): c[dso+' '+sym[:100]]+=1
    return c,t
_,tp=load('pipe.script',lambda x:False)
_,ts=load('sign.script',lambda x:False)
sink_p=max(tp,key=tp.get); sink_s=max(ts,key=ts.get)
print(tp.most_common(3), ts.most_common(3))
p,_=load('pipe.script',lambda x:x!=sink_p)
s,_=load('sign.script',lambda x:x!=sink_s)
print('client-side totals: pipeline',sum(p.values()),'sign',sum(s.values()))
pk=sum(v for k,v in p.items() if k[0]=='k'); sk=sum(v for k,v in s.items() if k[0]=='k')
print('kernel',pk,sk)
ks=sorted(set(p)|set(s),key=lambda k:-(p[k]-s[k]))
for k in ks[:45]: print(p[k],s[k],p[k]-s[k],k)
print('...')
for k in ks[-35:]: print(p[k],s[k],p[k]-s[k],k)
