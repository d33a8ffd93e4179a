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
