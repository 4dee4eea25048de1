// Asks a server for answers with the official `openai` package for JavaScript, on Node, as an
// application would: `baseURL` pointed at the server. The same modes and output as
// openai_answers.py:
//
//     node openai_answers.cjs BASE_URL answer    streamed, then whole: one JSON line each
//     node openai_answers.cjs BASE_URL abort     streamed, aborted after three tokens
//
// The package comes from target/node-clients (NODE_PATH, set by the test), installed there by
// scripts/test.sh with `npm ci` from package-lock.json. For https:// (the servers' certificate
// is self-signed) the test sets NODE_TLS_REJECT_UNAUTHORIZED=0.
"use strict";

const OpenAI = require("openai");

const question = "What does the openai package see?";
const messages = [{ role: "user", content: question }];

async function streamed(ai, stopAfter) {
  const stream = await ai.chat.completions.create({ model: "stand-in", messages, stream: true });
  let content = "", tokens = 0, finish = null, id = null;
  for await (const chunk of stream) {
    id = chunk.id;
    const choice = chunk.choices[0];
    if (choice?.delta?.content) {
      content += choice.delta.content;
      tokens += 1;
    }
    finish = choice?.finish_reason ?? finish;
    if (stopAfter !== null && tokens === stopAfter) {
      // What a user's Stop does: the request is aborted, the server must notice.
      stream.controller.abort();
      break;
    }
  }
  return { mode: "stream", content, tokens, finish_reason: finish, id };
}

async function whole(ai) {
  const completion = await ai.chat.completions.create({ model: "stand-in", messages });
  const choice = completion.choices[0];
  return {
    mode: "whole",
    content: choice.message.content,
    tokens: completion.usage.completion_tokens,
    finish_reason: choice.finish_reason,
    id: completion.id,
  };
}

async function main() {
  const [baseURL, mode] = process.argv.slice(2);
  const ai = new OpenAI({ baseURL, apiKey: "not-needed", maxRetries: 0 });
  if (mode === "abort") {
    console.log(JSON.stringify(await streamed(ai, 3)));
  } else {
    console.log(JSON.stringify(await streamed(ai, null)));
    console.log(JSON.stringify(await whole(ai)));
  }
}

main().catch((error) => {
  console.error("Traceback (the JavaScript client failed):", error);
  process.exit(1);
});
