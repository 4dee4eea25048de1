"""Asks a server for answers with the official `openai` package, as an application would:
`base_url` pointed at the server, HTTP/2 for an https:// URL (the servers' certificate is
self-signed, so it is not verified).

    python openai_answers.py BASE_URL answer    streamed, then whole: one JSON line each
    python openai_answers.py BASE_URL abort     streamed, closed after three tokens

Each line is JSON: {"mode", "content", "tokens", "finish_reason", "id"}. An error the package
raises (a refusal, in OpenAI's error shape) ends it with a traceback.
"""

import json
import sys

import openai


def client(base_url: str) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(verify=False, http2=base_url.startswith("https:"))
    return openai.OpenAI(base_url=base_url, api_key="not-needed", http_client=http, max_retries=0)


def streamed(ai: openai.OpenAI, question: str, stop_after: int | None) -> dict:
    stream = ai.chat.completions.create(
        model="stand-in",
        messages=[{"role": "user", "content": question}],
        stream=True,
    )
    content, tokens, finish, answer_id = "", 0, None, None
    for chunk in stream:
        answer_id = chunk.id
        choice = chunk.choices[0]
        if choice.delta.content:
            content += choice.delta.content
            tokens += 1
        finish = choice.finish_reason or finish
        if stop_after is not None and tokens == stop_after:
            # What a user's Stop does: the response is closed, the server must notice.
            stream.close()
            break
    return {"mode": "stream", "content": content, "tokens": tokens,
            "finish_reason": finish, "id": answer_id}


def whole(ai: openai.OpenAI, question: str) -> dict:
    completion = ai.chat.completions.create(
        model="stand-in",
        messages=[{"role": "user", "content": question}],
    )
    choice = completion.choices[0]
    return {"mode": "whole", "content": choice.message.content,
            "tokens": completion.usage.completion_tokens,
            "finish_reason": choice.finish_reason, "id": completion.id}


def main() -> int:
    base_url, mode = sys.argv[1], sys.argv[2]
    ai = client(base_url)
    question = "What does the openai package see?"
    if mode == "abort":
        print(json.dumps(streamed(ai, question, stop_after=3)), flush=True)
    else:
        print(json.dumps(streamed(ai, question, stop_after=None)), flush=True)
        print(json.dumps(whole(ai, question)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
