// Flowise's OpenAI nodes ("ChatOpenAI Custom", "OpenAI Embeddings Custom") are @langchain/openai
// with `configuration.baseURL` set to the base path the user gives. Run by
// tests/platforms/test_flowise.py against the test stack; prints one JSON line of what it saw.
import { tool } from "@langchain/core/tools";
import { HumanMessage, ToolMessage } from "@langchain/core/messages";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { z } from "zod";

const baseURL = process.env.MPC_BASE_URL; // e.g. http://localhost:3000/api
const apiKey = process.env.MPC_API_KEY;
const sent = [];
const recordingFetch = async (url, init) => {
  sent.push({ url: String(url), body: init?.body ? JSON.parse(init.body) : null });
  return fetch(url, init);
};
const configuration = { baseURL, fetch: recordingFetch };
const chat = (extra = {}) =>
  new ChatOpenAI({ model: "mpc/chat_general", apiKey, configuration, maxRetries: 0, timeout: 30000, ...extra });

const getWeather = tool(async ({ city }) => `Sunny in ${city ?? "Paris"}, 21 °C.`, {
  name: "get_weather",
  description: "The weather in a city.",
  schema: z.object({ city: z.string().optional() }),
});

const out = {};
const reply = await chat().invoke("Say hello to Flowise.");
out.chat = reply.content;
const pieces = [];
for await (const chunk of await chat({ streaming: true }).stream("Stream to Flowise, please.")) pieces.push(chunk.content);
out.stream = pieces;

const question = new HumanMessage("What is the weather in Paris?");
const agent = chat().bindTools([getWeather], { tool_choice: "required" });
const first = await agent.invoke([question]);
out.tool_calls = first.tool_calls;
const results = await Promise.all(
  first.tool_calls.map(async (call) => new ToolMessage({ content: await getWeather.invoke(call.args), tool_call_id: call.id })),
);
const final = await chat().bindTools([getWeather]).invoke([question, first, ...results]);
out.after_tool = { content: final.content, tool_calls: final.tool_calls };
let streamed;
for await (const chunk of await chat({ streaming: true }).bindTools([getWeather], { tool_choice: "required" }).stream([question])) {
  streamed = streamed === undefined ? chunk : streamed.concat(chunk);
}
out.streamed_tool_calls = streamed.tool_calls;

const embeddings = new OpenAIEmbeddings({ model: "mpc/embed_text", apiKey, configuration, maxRetries: 0 });
out.embeddings = await embeddings.embedDocuments(["a cat sat on the mat", "a cat sat on a mat", "stock market report"]);
out.requests = sent.map(({ url, body }) => ({ url, model: body?.model, stream: body?.stream ?? false }));
console.log(JSON.stringify(out));
