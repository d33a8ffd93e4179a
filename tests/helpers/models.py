"""Inputs of tiny models (torch)."""
import torch


def padded_batch(lengths, seed: int = 1) -> dict:
    """Right-padded random ``input_ids`` / ``attention_mask`` of sequences of ``lengths`` (ids 3..99), seeded."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros((len(lengths), max(lengths)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(3, 100, (n,), generator=g)
        mask[b, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def sentencepiece_tokenizer(folder, texts) -> str:
    """A small SentencePiece-style tokenizer (Unigram, ``▁`` word boundaries, a BOS token) trained in the test on
    ``texts`` and saved in ``folder``: the offsets LLaMA's and Gemma's tokenizers give, in a second. Returns the
    folder, a checkpoint location."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(list(texts) * 20, trainers.UnigramTrainer(
        vocab_size=120, special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"], unk_token="<unk>", show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B",
                                                       special_tokens=[("<bos>", tok.token_to_id("<bos>"))])
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(folder)
    return str(folder)


def assert_every_word_gets_its_tokens(tok, sentence: str) -> None:
    """Each word of ``sentence`` decodes back from exactly its own tokens (:func:`attnhuman.attention.extraction.align.
    token_words`), read alone and after a prefix, whose tokens belong to no word."""
    import numpy as np

    from attnhuman.attention.extraction.align import token_words

    prefix = "Please translate this sentence into German: "
    for text, start in ((sentence, 0), (prefix + sentence, len(prefix))):
        enc = tok(text, return_offsets_mapping=True)
        offsets, ids = np.array(enc["offset_mapping"]), np.array(enc["input_ids"])
        words = token_words(text, offsets, start)
        assert [tok.decode(ids[words == w]).strip() for w in range(len(sentence.split()))] == sentence.split()
        assert (words[offsets[:, 1] < start] == -1).all()
