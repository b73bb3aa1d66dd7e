"""A tiny llama-architecture GGUF model with random weights, written with the `gguf` package.

It exists so that a real model server (llama-cpp-python) can be tested without downloading a
model: two layers of width 64 and a 354-token SentencePiece-style vocabulary (the special
tokens, the 256 byte-fallback tokens, printable ASCII), about 0.2 MB, loaded in well under a
second. Its text is noise; what it proves is that a real server tokenizes, samples under a
grammar (tool arguments, JSON schemas), streams and frames its replies as the gateway expects.
"""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np

__all__ = ["CHAT_TEMPLATE", "write_tiny_llama"]

# A ChatML-like template in the Jinja dialect of Hugging Face chat templates, which
# llama-cpp-python renders when the server is given no --chat_format. Assistant turns that
# only call tools have no content, hence `or ''`.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] or '' }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_EMBED = 64
_HEADS = 4
_LAYERS = 2
_FF = 128
_CONTEXT = 1024
_EOS = 2
_NEWLINE = 3 + ord("\n")  # the byte-fallback token <0x0A>
_FIRST_PIECE = 3 + 256  # U+2581, the bare space
_CHANNEL = 2.0
_END_VOTE = 0.6


def _vocab() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    # Byte fallback: any text can be tokenized, and any byte sequence a grammar allows
    # can be sampled.
    tokens += [f"<0x{byte:02X}>" for byte in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    # Printable ASCII as SentencePiece pieces (a space is U+2581).
    tokens += ["\u2581" if code == 32 else chr(code) for code in range(32, 127)]
    types += [gguf.TokenType.NORMAL] * 95
    scores = [0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(95)]
    return tokens, scores, [int(t) for t in types]


def write_tiny_llama(path: Path, *, seed: int = 0) -> Path:
    """Write the model to `path` (float32 tensors, deterministic for a seed); return `path`."""
    tokens, scores, types = _vocab()
    vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        # numpy shapes are GGML's dimensions reversed: (rows = outputs, columns = inputs).
        return (rng.standard_normal(shape) * 0.5 / np.sqrt(shape[-1])).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("responses-gateway tiny random llama")
    writer.add_context_length(_CONTEXT)
    writer.add_embedding_length(_EMBED)
    writer.add_block_count(_LAYERS)
    writer.add_feed_forward_length(_FF)
    writer.add_head_count(_HEADS)
    writer.add_head_count_kv(_HEADS)
    writer.add_rope_dimension_count(_EMBED // _HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(_EOS)
    writer.add_chat_template(CHAT_TEMPLATE)

    # Pure random weights would pick among all 354 tokens alike: a reply would end with </s>
    # about once in 350 tokens (nearly every reply would stop at the token limit, an
    # incomplete response) and be mostly lone bytes that are not UTF-8 (empty text). Two
    # channels of the residual stream, which no layer writes to, steer that:
    # - channel 0 is a constant that the output layer reads as a vote for </s>, so a reply
    #   ends after a handful of tokens; it is negative for a newline, the last token of the
    #   chat template's prompt, so no reply ends before its first token;
    # - channel 1 is a constant that votes against the byte, control and bare-space tokens,
    #   so replies are printable ASCII (a grammar can still ask for any token).
    embeddings = weights(vocab, _EMBED)
    embeddings[:, 0] = _CHANNEL
    embeddings[_NEWLINE, 0] = -_CHANNEL
    embeddings[:, 1] = _CHANNEL
    output = weights(vocab, _EMBED)
    output[:, 0:2] = 0.0
    output[_EOS, 0] = _END_VOTE
    output[:_EOS, 1] = output[_EOS + 1:_FIRST_PIECE + 1, 1] = -2.0
    ones = np.ones(_EMBED, dtype=np.float32)
    writer.add_tensor("token_embd.weight", embeddings)
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", output)
    for layer in range(_LAYERS):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", ones)
        for name in ("attn_q", "attn_k", "attn_v"):
            writer.add_tensor(f"{block}.{name}.weight", weights(_EMBED, _EMBED))
        attn_output = weights(_EMBED, _EMBED)
        attn_output[0:2, :] = 0.0  # the layers leave channels 0 and 1 alone
        writer.add_tensor(f"{block}.attn_output.weight", attn_output)
        writer.add_tensor(f"{block}.ffn_norm.weight", ones)
        writer.add_tensor(f"{block}.ffn_gate.weight", weights(_FF, _EMBED))
        writer.add_tensor(f"{block}.ffn_up.weight", weights(_FF, _EMBED))
        ffn_down = weights(_EMBED, _FF)
        ffn_down[0:2, :] = 0.0
        writer.add_tensor(f"{block}.ffn_down.weight", ffn_down)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
