"""Tiny random models and a byte-level BPE tokenizer, built in the tests (fast, no network).

The decoder uses large initial weights, so its answers depend on its context: a wrong position,
mask or cache row changes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

CHAT_TEMPLATE = ("{% for m in messages %}<|user|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
SPECIALS = ("<pad>", "</s>", "<|user|>", "<|assistant|>")


def byte_bpe(corpus: Sequence[str], eos_after: bool, vocab_size: int = 300,
             specials: Sequence[str] = SPECIALS) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on ``corpus``; ``eos_after``: append ``</s>`` as T5 does."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(corpus), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(specials), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if eos_after:
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>")


def save_tiny_llama(folder: Path, tok: PreTrainedTokenizerFast, max_positions: int = 256) -> Path:
    """A 2-layer Llama with the chat template, saved with its tokenizer."""
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                         pad_token_id=0, eos_token_id=1, bos_token_id=1, initializer_range=0.3)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def save_tiny_t5(folder: Path, tok: PreTrainedTokenizerFast) -> Path:
    """A 2-layer T5, saved with its tokenizer (which should append ``</s>``)."""
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- word-level models
# Small vocabularies where every test word is one token: outputs read as words, prompts stay short.

WORD_SPECIALS = ("<pad>", "</s>", "<unk>", "<user>", "<bot>")
WORD_CHAT_TEMPLATE = ("{% for m in messages %}<user> {{ m['content'] }} {% endfor %}"
                      "{% if add_generation_prompt %}<bot> {% endif %}")


def word_tokenizer(texts: Sequence[str], *, chat: bool = False, eos_after: bool = False) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the whitespace-separated words of ``texts`` (``</s>`` appended
    when ``eos_after``, as T5 does; the chat template when ``chat``)."""
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")          # joins words with spaces
    tok.train_from_iterator(list(texts), trainers.WordLevelTrainer(special_tokens=list(WORD_SPECIALS)))
    if eos_after:
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    if chat:
        fast.chat_template = WORD_CHAT_TEMPLATE
    return fast


def save_small_llama(folder: Path, tok: PreTrainedTokenizerFast, seed: int = 0, hidden: int = 16,
                     layers: int = 1) -> Path:
    """A small random Llama (default initial weights) saved with ``tok``."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=512, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def save_small_t5(folder: Path, tok: PreTrainedTokenizerFast, seed: int = 0) -> Path:
    """A 1-layer random T5 saved with ``tok`` (which should append ``</s>``)."""
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1,
                      num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


#: The vocabulary of :func:`make_tiny_encoder`.
ENCODER_WORDS = "the a cat dog bird fish runs sleeps eats red blue green big small apple pear".split()


def make_tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """A tiny BertModel with a WordLevel tokenizer over ``ENCODER_WORDS``, saved with save_pretrained."""
    from transformers import BertConfig, BertModel

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *ENCODER_WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    torch.manual_seed(seed)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, max_position_embeddings=64), add_pooling_layer=False)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def make_word_encoder(folder: Path, texts: Sequence[str], seed: int = 0, hidden: int = 32, layers: int = 1) -> Path:
    """A small BertModel (``layers`` 0: word embeddings only, a random bag of words) with a WordLevel
    tokenizer over the words of ``texts`` (punctuation split off): every word of the data is its own
    token, so a rule about one word is learnable in a few steps."""
    from transformers import BertConfig, BertModel

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(list(texts), trainers.WordLevelTrainer(
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=256)
    torch.manual_seed(seed)
    model = BertModel(BertConfig(vocab_size=len(fast), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                                 intermediate_size=2 * hidden, max_position_embeddings=256), add_pooling_layer=False)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
