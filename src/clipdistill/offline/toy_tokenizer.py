"""A small byte-level BPE tokenizer trained here, carrying a real model's special tokens.

The real tokenizers are megabytes of learned merges that cannot be made offline. A few
hundred merges learned from a paragraph about pets keep the stand-ins small and make
their gibberish read as words; the special tokens are the model's own, so chat templates,
image placeholders and end-of-turn handling take the real code paths.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["CORPUS", "toy_tokenizer"]

# Whole words make the gibberish readable; the two prompts are in it, so each encodes to
# a handful of tokens, about as many as with the real vocabularies.
CORPUS = """
A small grey cat sits on a wooden chair next to the window in the afternoon light.
A brown dog with floppy ears runs across the green grass of a park, chasing a ball.
The kitten has white paws, long whiskers, pointed ears and bright yellow eyes.
A large black dog lies on the floor of a kitchen with its head resting on its paws.
Two puppies play in the snow; one is golden and the other has black and white spots.
The tabby cat is curled up asleep on a soft blanket on the sofa.
A person holds a fluffy orange cat in their arms in front of a brick wall.
This image shows a dog wearing a red collar, sitting on a path beside some flowers.
The animal has a short snout, a wet nose, a long tail and thick fur.
The photo is blurry and dark, taken indoors, with a cage in the background.
describe this image in a sentence.
describe the features of this image in the context of deciding if it is a cat, or a dog,
or something else.
The features suggest a cat: a small round face, triangular ears and slit pupils.
The features suggest a dog: a long muzzle, drooping ears and a broad chest.
Something else: a car, a tree, a chair, a house, a bird, a flower, a plate of food.
""".strip()


def toy_tokenizer(special_tokens: Sequence[str], *, vocab_size: int, eos: str, pad: str,
                  bos: str | None = None, unk: str | None = None, chat_template: str = "",
                  model_max_length: int = 8192, extra: dict | None = None):
    """A ``PreTrainedTokenizerFast`` whose first ids are ``special_tokens``, in order.

    ``extra`` adds named special tokens (e.g. ``{"image_token": "<image>"}``) the way the
    hub's ``tokenizer_config.json`` names them, so processors find them by attribute.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines() * 4, trainer)
    named = {"eos_token": eos, "pad_token": pad}
    if bos:
        named["bos_token"] = bos
    if unk:
        named["unk_token"] = unk
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, padding_side="left",
                                   model_max_length=model_max_length, **named,
                                   **({"extra_special_tokens": dict(extra)} if extra else {}))
    if chat_template:
        fast.chat_template = chat_template
    return fast
