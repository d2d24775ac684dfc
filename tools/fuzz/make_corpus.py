#!/usr/bin/env python3
"""Seed corpora for scripts/fuzz.sh, one folder of small valid inputs per fuzz target.

  make_corpus.py OUT

OUT/<target>/ gets, made here from the project's own fixtures and writers:
  gguf        tiny GGUF files written with the `gguf` package: a llama with a byte-level BPE
              tokenizer and a chat template, F32 and Q8_0/Q4_0/Q4_1 weights, and a TRM-shaped
              header with its hyper-parameters
  checkpoint  a small official-layout TRM checkpoint (torch.save zip, tools/reference/make_fixtures.py)
              and the same state_dict as safetensors
  yaml        its all_config.yaml, and variants
  puzzles     the shipped sample puzzles, one per file and all together
  template    chat templates: ChatML and constructs real templates use (loops, conditions,
              namespaces, filters, raise_exception)
  http        request bodies of every endpoint (chat, completions, solve; streamed, stop lists,
              content parts, token prompts)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(folder, name), mode) as f:
        f.write(data)


CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

TEMPLATES = {
    "chatml.jinja": CHATML,
    "system.jinja": ("{%- if messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}{%- set rest = messages[1:] %}"
                     "{%- else %}{%- set system = 'You are helpful.' %}{%- set rest = messages %}{%- endif %}"
                     "{{ bos_token }}[SYS]{{ system | trim }}[/SYS]{% for m in rest %}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]"
                     "{% elif m.role == 'assistant' %}{{ m.content }}{{ eos_token }}{% else %}{{ raise_exception('bad role ' ~ m.role) }}"
                     "{% endif %}{% endfor %}"),
    "namespace.jinja": ("{% set ns = namespace(n=0, seen=false) %}{% for m in messages | reverse %}{% set ns.n = ns.n + 1 %}"
                        "{% if loop.first %}{% set ns.seen = true %}{% endif %}{{ loop.index }}:{{ m.role | upper }}={{ m.content | length }};"
                        "{% endfor %}{{ ns.n }}{{ ns.seen }}{{ messages | map(attribute='role') | join(',') }}"),
    "whitespace.jinja": "{%- for m in messages -%}\n  {{- m['content'] | replace('a', 'b') -}}\n{%- endfor -%}{{ '%d' % 3 }}{{ [1,2,3][1:] }}",
}

HTTP = {
    "chat.json": {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0},
    "chat-stream.json": {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "stream": True,
                         "stream_options": {"include_usage": True}, "stop": ["\n", "END"], "seed": 7, "top_p": 0.9},
    "chat-parts.json": {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
                        "presence_penalty": 0.5, "frequency_penalty": -0.5, "max_completion_tokens": 4},
    "completion.json": {"prompt": "Once upon a time", "max_tokens": 16, "stop": "\n", "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1},
    "completion-tokens.json": {"prompt": [1, 2, 3, 4], "max_tokens": 2, "n": 1},
    "solve.json": {"model": "trm", "puzzles": ["." * 81, "1" + "." * 80], "halt": "max", "max_steps": 2},
}


def gguf_files(out):
    import gguf

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    path = os.path.join(out, "llama.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(32)
    w.add_feed_forward_length(64)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    tokens = [bytes([b]).decode("latin-1") for b in range(256)] + ["<|im_start|>", "<|im_end|>"]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types([1] * 256 + [3, 3])
    w.add_token_merges(["a b", "ab c"])
    w.add_bos_token_id(256)
    w.add_eos_token_id(257)
    w.add_chat_template(CHATML)
    vocab = len(tokens)
    kinds = [gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.Q4_1]
    shapes = {"token_embd.weight": (vocab, 32), "blk.0.attn_q.weight": (32, 32), "blk.0.attn_k.weight": (16, 32),
              "blk.0.attn_v.weight": (16, 32), "blk.0.attn_output.weight": (32, 32), "blk.0.ffn_gate.weight": (64, 32),
              "blk.0.ffn_up.weight": (64, 32), "blk.0.ffn_down.weight": (32, 64)}
    for i, (name, shape) in enumerate(shapes.items()):
        values = rng.standard_normal(shape).astype(np.float32) * 0.1
        kind = kinds[i % len(kinds)]
        data = values if kind == gguf.GGMLQuantizationType.F32 else gguf.quants.quantize(values, kind)
        w.add_tensor(name, data, raw_dtype=kind)
    for name in ["blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "output_norm.weight"]:
        w.add_tensor(name, np.ones(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    path = os.path.join(out, "trm-header.gguf")
    w = gguf.GGUFWriter(path, "trm")
    for key, value in [("trm.embedding_length", 32), ("trm.block_count", 1), ("trm.attention.head_count", 2), ("trm.h_cycles", 2),
                       ("trm.l_cycles", 2), ("trm.seq_len", 9), ("trm.vocab_size", 11), ("trm.halt_max_steps", 4)]:
        w.add_uint32(key, value)
    w.add_string("recur.task", "sudoku")
    w.add_tensor("token_embd.weight", rng.standard_normal((11, 32)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def checkpoint_files(out_checkpoint, out_yaml):
    import torch
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(ROOT, "tools/reference/make_fixtures.py"), "--out", tmp, "--variants", "trm_att_learned"],
                       check=True, stdout=subprocess.DEVNULL)
        src = os.path.join(tmp, "trm_att_learned")
        os.makedirs(out_checkpoint, exist_ok=True)
        shutil.copy(os.path.join(src, "step_1"), os.path.join(out_checkpoint, "step_1.zip"))
        state = torch.load(os.path.join(src, "step_1"), map_location="cpu", weights_only=True)
        tensors = {k: v.contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
        save_file(tensors, os.path.join(out_checkpoint, "step_1.safetensors"), metadata={"format": "pt"})
        small = {k: v[:2].contiguous() if v.dim() > 0 else v for k, v in list(tensors.items())[:3]}
        save_file(small, os.path.join(out_checkpoint, "small.safetensors"))
        with open(os.path.join(src, "all_config.yaml")) as f:
            config = f.read()
    write(out_yaml, "all_config.yaml", config)
    write(out_yaml, "flow.yaml", "arch: {name: trm, hidden_size: 32, H_cycles: 2, list: [1, 2.5, 'x', null, true]}\nlr: 1e-4\n")
    write(out_yaml, "anchors.yaml", "base: &b\n  a: 1\n  b: [x, y]\nderived:\n  <<: *b\n  c: ~\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    gguf_files(os.path.join(out, "gguf"))
    checkpoint_files(os.path.join(out, "checkpoint"), os.path.join(out, "yaml"))
    with open(os.path.join(ROOT, "models/sudoku-samples.txt")) as f:
        samples = f.read()
    write(os.path.join(out, "puzzles"), "samples.txt", samples)
    for i, line in enumerate(l for l in samples.splitlines() if l and not l.startswith("#")):
        write(os.path.join(out, "puzzles"), f"line-{i}.txt", line + "\n")
    for name, text in TEMPLATES.items():
        write(os.path.join(out, "template"), name, text)
    for name, body in HTTP.items():
        write(os.path.join(out, "http"), name, json.dumps(body))


if __name__ == "__main__":
    main()
