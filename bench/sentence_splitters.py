"""Compare sentence splitters on tests/sentence_cases.py: cases passed and speed.

Run: python bench/sentence_splitters.py  (needs pysbd and syntok besides blingfire)
"""
import re
import sys
import time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from sentence_cases import CASES
import pysbd, blingfire
import syntok.segmenter as seg

def paras(text):
    for m in re.finditer(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*$)", text, re.S):
        yield m.start(), m.group()

def s_pysbd(text, _s=pysbd.Segmenter(language="en", clean=False, char_span=True)):
    out=[]
    for off,p in paras(text):
        for sp in _s.segment(p): out.append(p[sp.start:sp.end].strip())
    return out
def s_bling(text):
    out=[]
    for off,p in paras(text):
        _, offs = blingfire.text_to_sentences_and_offsets(p)
        out += [p[a:b].strip() for a,b in offs]
    return out
def s_syntok(text):
    out=[]
    for off,p in paras(text):
        for para in seg.analyze(p):
            for sent in para:
                a=sent[0].offset; b=sent[-1].offset+len(sent[-1].value)
                out.append(p[a:b].strip())
    return out
for name,f in [("pysbd",s_pysbd),("blingfire",s_bling),("syntok",s_syntok)]:
    ok=0
    for t,exp in CASES:
        got=f(t)
        if got==exp: ok+=1
        else: print(name,"FAIL",got)
    seed=open(Path(__file__).resolve().parents[1] / "data/articles/000_057363c6d6ccf170.txt").read()*20
    t=time.perf_counter(); f(seed); dt=time.perf_counter()-t
    print(f"== {name}: {ok}/{len(CASES)} ; {len(seed)/dt/1000:.0f} kchar/s")
