"""The JSON form of an answer: what ``qa ask --json``, the chat's ``/answer`` and ``POST /api/v1/answer`` return.

One set of pydantic models, read straight from the ``qa.answer`` dataclasses, makes both the JSON and the
HTTP API's OpenAPI schema, so the two cannot drift apart.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SourceJSON(BaseModel):
    """The article an answer or sentence comes from."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The article's id (a hash of its text)")
    title: str
    date: str | None = Field(description="Publication date, YYYY-MM-DD, when known")
    source: str = Field(description="The file or address it was read from")
    url: str | None = Field(description="The source when it is a web address")


class EvidenceJSON(BaseModel):
    """A sentence close to the question, shown when the articles don't say."""

    model_config = ConfigDict(from_attributes=True)

    sentence: str
    window: str = Field(description="The sentence with its neighbours")
    article: SourceJSON
    start: int = Field(description="Sentence start in the article text")
    end: int = Field(description="Sentence end in the article text")


class SpanJSON(BaseModel):
    """One answer span with its sentence and article (an alternative, a candidate or a dated figure)."""

    model_config = ConfigDict(from_attributes=True)

    question: str = Field(description="The question as answered (cleaned, possibly truncated)")
    answer: str = Field(validation_alias="text", description="The span copied from the article; empty when the articles don't say")
    score: float = Field(ge=0, le=1, description="Calibrated probability that the answer is right")
    sentence: str = Field(description="The sentence holding the answer (the closest sentence when there is none)")
    window: str = Field(description="The sentences the answer was read from")
    article: SourceJSON | None
    start: int = Field(description="Answer start in the article text")
    end: int = Field(description="Answer end in the article text")
    context_start: int = Field(description="Answer start in window")
    context_end: int = Field(description="Answer end in window")
    sentence_offset: int = Field(description="Answer start in sentence")
    message: str = Field(description="Why there is no answer, or a notice about the question")
    sources: list[SourceJSON] = Field(description="Every article holding the answer's sentence: article first, then near-duplicate copies")


class AnswerJSON(SpanJSON):
    """An extracted answer, or an abstention."""

    id: str = Field(description="Names this answer in feedback (POST /api/v1/feedback)")
    alternatives: list[SpanJSON] = Field(description="The next best distinct answers")
    closest: list[EvidenceJSON] = Field(description="When the articles don't say: the sentences closest to the question")
    candidate: SpanJSON | None = Field(description="When the articles don't say for sure: the best answer found, shown as unsure")
    timeline: list[SpanJSON] = Field(
        description="When the answer is a figure that articles of different dates give differently: each date's answer, newest first"
    )
