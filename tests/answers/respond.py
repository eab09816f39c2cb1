"""The synthetic model's answers to the respond method's own prompts: translations, side-by-side
ratings and Alpaca-framed questions, told apart by their wording. Asked first: an Alpaca-framed
question would otherwise reach the catch-alls."""

from __future__ import annotations

import hashlib
import re

from ._words import rng_of

PRIORITY = 5


RESPOND_ANSWER_HAN = (
    "河山水火木金土日月风云雨雪花草树林石田城村市家国人心手口目耳书文字语言学生老师工作时间"
    "预算计划问题方法结果道路桥梁海岸森林火山冰川诗歌故事音乐图画厨房花园小镇乡村早晨晚上"
)


def respond_answer(prompt: str, chat: bool, salt: str = "") -> str | None:
    """respond's prompts (None: not one of them), told apart by their wording:

    * a translation (``prompts/respond/translate.txt``): into Chinese, every English word
      becomes two Han characters chosen by the word alone (so near-duplicate English gives
      near-duplicate Chinese); into another language, the text behind the language's name;
    * a side-by-side rating (``prompts/respond/side_by_side.txt``): one score per response on
      the first line (about 5% of them unparseable: a word among the numbers);
    * an Alpaca-framed question: a short answer (in Chinese when asked to), which on the
      completion API runs on into a new "### Instruction:" block unless a stop sequence cuts it.
    """
    lead = "" if chat else " "
    translation = re.search(r"Translate the text below into (.+?)\..*?\nText:\n(.*)\n\n"
                            r"Translation into \1:", prompt, re.S)  # fmt: skip
    if translation is not None:
        language, text = translation.group(1), translation.group(2)
        if language != "Chinese":
            return f"{lead}({language}) {text}"
        words = re.findall(r"[A-Za-z0-9']+", text)
        han = []
        for word in words:
            h = int(hashlib.sha256(word.lower().encode()).hexdigest(), 16)
            han.append(RESPOND_ANSWER_HAN[h % 80] + RESPOND_ANSWER_HAN[(h >> 8) % 80])
        return lead + "".join(han) + "。"
    if prompt.startswith("Several assistants answered the same instruction"):
        count = len(re.findall(r"^\[Response \d+\]$", prompt, re.M))
        rng = rng_of("side-by-side", salt, prompt)
        scores = [str(rng.randrange(1, 11)) for _ in range(count)]
        if rng.random() < 0.05:
            scores[0] = "eleven"
        return lead + " ".join(scores) + "\nCompared by the stub."
    if prompt.startswith("Below is an instruction that describes a task") or (
        "Below is an instruction that describes a task" in prompt[:400]
    ):
        rng = rng_of("respond", salt, prompt)
        if "Write the response in Chinese." in prompt:
            return f"{lead}这是桩服务器的回答，编号{rng.randrange(1000)}。"
        answer = f"{lead}A stub answer number {rng.randrange(1000)}, written with care."
        if chat:
            return answer
        return answer + "\n\n### Instruction:\nName another river.\n\n### Response:\nThe Nile."
    return None


def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str | None:
    return respond_answer(prompt, chat, salt)
