"""Labels and evaluation pairs for the three routing files (imported by the experiments).

Labels (higher = send to a stronger model):
- "gain":  score(strong) - score(cheap)      -- what APGR rewards, row by row
- "hard":  1 - score(cheap)                  -- "the cheap model does not answer well"
- "sw":    score(strong) * (1 - score(cheap)) -- only the rows where routing up pays
- "mix":   0.5 * gain + 0.5 * hard
- "pair":  both columns (strong, cheap), for the "twin" model (one success model per side)
where, per file,
- MMLU:        strong = gpt-4-1106-preview, cheap = mixtral-8x7b-instruct-v0.1
- llmrouter:   strong = llama-3.1-nemotron-51b-instruct, cheap = mean of the four usable
               7-9B models (qwen2.5-7b, llama-3.1-8b, gemma-2-9b, mistral-7b; the chatqa and
               codegemma models score near zero on most tasks and are left out)
- routerbench: strong = gpt-4-1106-preview, cheap = mean of mistral-7b-chat, mixtral-8x7b-chat,
               WizardLM-13B (the three cheapest by real cost)
Evaluation pairs (APGR): MMLU gpt-4 vs mixtral (RouteLLM's pair); llmrouter nemotron-51b vs
gemma-2-9b (best vs cheapest); routerbench gpt-4 vs mixtral-8x7b-chat (RouteLLM's pair again).
"""
import numpy as np

from common import load

SPEC = {
    "mmlu": dict(file="routellm_mmlu_dev", strong="gpt-4-1106-preview",
                 cheap=["mixtral-8x7b-instruct-v0.1"], pair=("gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1")),
    "llmrouter": dict(file="llmrouter_train", strong="llama-3.1-nemotron-51b-instruct",
                      cheap=["qwen2.5-7b-instruct", "llama-3.1-8b-instruct", "gemma-2-9b-it", "mistral-7b-instruct-v0.3"],
                      pair=("llama-3.1-nemotron-51b-instruct", "gemma-2-9b-it")),
    "routerbench": dict(file="routerbench_train", strong="gpt-4-1106-preview",
                        cheap=["mistralai/mistral-7b-chat", "mistralai/mixtral-8x7b-chat", "WizardLM/WizardLM-13B-V1.2"],
                        pair=("gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat")),
}


class DS:
    def __init__(self, name):
        sp = SPEC[name]
        rows = [r for r in load(sp["file"]) if all(m in r["scores"] for m in [sp["strong"], *sp["cheap"], *sp["pair"]])]
        self.name = name
        self.rows = rows
        self.texts = [r["prompt"] for r in rows]
        self.group = np.array([r["task"] for r in rows])
        st = np.array([r["scores"][sp["strong"]] for r in rows])
        ch = np.array([np.mean([r["scores"][m] for m in sp["cheap"]]) for r in rows])
        self.labels = {"gain": st - ch, "hard": 1 - ch, "sw": st * (1 - ch), "pair": np.stack([st, ch], 1),
                       "mix": 0.5 * (st - ch) + 0.5 * (1 - ch)}
        self.ps = np.array([r["scores"][sp["pair"][0]] for r in rows])
        self.pw = np.array([r["scores"][sp["pair"][1]] for r in rows])
        self.cheap_fails = (ch < 0.5).astype(float)

    def __len__(self):
        return len(self.rows)
