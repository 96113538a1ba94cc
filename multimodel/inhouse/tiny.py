"""A tiny Llama-architecture model and its byte-level BPE tokenizer, saved in Hugging Face format.

Tests build one in a temporary folder (random weights, a second or two on CPU) to exercise the
in-house provider without the training pipeline; the shipped house models come from that pipeline
(`scripts/make_house_models`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"

# Turns read like a play script ("USER:\n...\n") so a model trained on Shakespeare's dialogue
# continues naturally after "ASSISTANT:\n"; the end-of-sequence token closes each turn, so the
# model learns where a speech ends and the provider's generation stops there.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{{ m['role'] | upper }}:\n{{ m['content'] }}\n{{ eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:\n{% endif %}"
)

# Trained on when no text is given, so an untrained tokenizer still has a few merges.
_DEFAULT_TEXT = (
    "USER:\nHello there, how are you today?\n"
    "ASSISTANT:\nWell enough, and thank you; the day is fair and the hour is young.\n"
)


def make_tiny_model(
    out_dir: str | Path,
    *,
    text: str | None = None,
    vocab_size: int = 512,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    intermediate: int | None = None,
    context: int = 256,
    seed: int = 0,
) -> Path:
    """Create a randomly initialised (fixed `seed`) tiny Llama and its tokenizer in `out_dir`.

    The tokenizer is byte-level BPE trained on `text` up to `vocab_size` entries (any text
    encodes: every byte is in the base alphabet). Returns the directory.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer(text if text is not None else _DEFAULT_TEXT, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate if intermediate is not None else hidden * 8 // 3,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=context,
        # Untied: with tied embeddings a random model just repeats its last token, and tests
        # want varied text from an untrained model.
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def make_tokenizer(text: str, vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer trained on `text`, wrapped for `transformers`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([text], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )
