// Activepieces' AI pieces call models through the `ai` SDK with @ai-sdk/openai-compatible.
// Run by tests/platforms/test_activepieces.py against the test stack; prints one JSON line.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { embedMany, generateImage, generateText, streamText, tool } from "ai";
import { z } from "zod";

const provider = createOpenAICompatible({
  name: "mpc",
  baseURL: process.env.MPC_BASE_URL, // e.g. http://localhost:3000/api
  apiKey: process.env.MPC_API_KEY,
  includeUsage: true, // streamed usage (stream_options.include_usage)
});
const model = provider.chatModel("mpc/chat_general");
const getWeather = tool({
  description: "The weather in a city.",
  inputSchema: z.object({ city: z.string().optional() }),
  execute: async ({ city }) => `Sunny in ${city ?? "Paris"}, 21 °C.`,
});

const out = {};
const whole = await generateText({ model, prompt: "Say hello to Activepieces.", maxRetries: 0 });
out.generate = { text: whole.text, finishReason: whole.finishReason, usage: whole.usage };

const streamed = streamText({ model, prompt: "Stream to Activepieces, please.", maxRetries: 0 });
const pieces = [];
for await (const piece of streamed.textStream) pieces.push(piece);
out.stream = { pieces, usage: await streamed.usage, finishReason: await streamed.finishReason };

const asked = { model, tools: { get_weather: getWeather }, maxRetries: 0 };
const called = await generateText({ ...asked, toolChoice: "required", prompt: "What is the weather in Paris?" });
out.tool_calls = called.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input }));
out.tool_results = called.toolResults.map((r) => ({ toolName: r.toolName, output: r.output }));
const answered = await generateText({
  ...asked,
  messages: [{ role: "user", content: "What is the weather in Paris?" }, ...called.response.messages],
});
out.after_tool = { text: answered.text, toolCalls: answered.toolCalls.length };
const streamedCall = streamText({ ...asked, toolChoice: "required", prompt: "What is the weather in Paris?" });
out.streamed_tool_calls = (await streamedCall.toolCalls).map((c) => ({ toolName: c.toolName, input: c.input }));

const embedded = await embedMany({
  model: provider.textEmbeddingModel("mpc/embed_text"),
  values: ["a cat sat on the mat", "a cat sat on a mat", "stock market report"],
  maxRetries: 0,
});
out.embeddings = embedded.embeddings;
const image = await generateImage({ model: provider.imageModel("mpc/image_generate:draft"), prompt: "a lighthouse", size: "256x256", maxRetries: 0 });
out.image = { count: image.images.length, mediaType: image.images[0]?.mediaType, bytes: image.images[0]?.uint8Array.length };
console.log(JSON.stringify(out));
