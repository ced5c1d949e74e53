import re
from collections import Counter
def load(f):
    rows=[]
    for l in open(f):
        parts=l.split(None,2)
        if len(parts)<3: continue
        rows.append((int(parts[0]),'k' if 'kernel' in parts[2] else 'u', re.sub(r'\s*\(.*\)\s*$','',parts[2]).strip()[:90]))
    return rows
p=load('pipe.script'); s=load('sign.script')
tp=Counter(r[0] for r in p); ts=Counter(r[0] for r in s)
sinkp=max(tp,key=tp.get); sinks=max(ts,key=ts.get)
worker=[t for t,_ in tp.most_common(2) if t!=sinkp][0]
client=[t for t,_ in ts.most_common(2) if t!=sinks][0]
def agg(rows,pred):
    c=Counter()
    for t,d,sym in rows:
        if pred(t): c[(d,sym)]+=1
    return c
W=agg(p,lambda t:t==worker); P=agg(p,lambda t:t not in (worker,sinkp)); S=agg(s,lambda t:t==client)
for name,c in (('worker',W),('producer',P),('sign',S)):
    print(name, 'user',sum(v for k,v in c.items() if k[0]=='u'),'kernel',sum(v for k,v in c.items() if k[0]=='k'))
print('producer top:')
for k,v in P.most_common(25): print(v,k)
print('sink: pipe',tp[sinkp],'sign',ts[sinks])
SP=agg(p,lambda t:t==sinkp); SS=agg(s,lambda t:t==sinks)
for name,c in (('sinkpipe',SP),('sinksign',SS)):
    print(name, 'user',sum(v for k,v in c.items() if k[0]=='u'),'kernel',sum(v for k,v in c.items() if k[0]=='k'))
