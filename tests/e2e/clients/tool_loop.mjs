// A multi-turn tool loop with a reasoning model through a JavaScript client, on its default
// settings (store included). Prints one JSON object on stdout, errors on stderr (exit 1).
//   node tool_loop.mjs <base_url> <model> ai-sdk generate|stream <prompt>
//   node tool_loop.mjs <base_url> <model> agents-js run|stream <prompt>
// The key comes from OPENAI_API_KEY. The output has the final text, the reasoning the client
// surfaced, the tool calls it ran and the body of every POST /responses it sent.
// Run by tests/e2e/clients/test_client_matrix.py.
import { createOpenAI } from "@ai-sdk/openai";
import { Agent, OpenAIProvider, Runner, tool as agentTool } from "@openai/agents";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";

const [baseURL, model, client, mode, prompt] = process.argv.slice(2);
const apiKey = process.env.OPENAI_API_KEY;
const sent = [];
const realFetch = globalThis.fetch;
// Both clients call the global fetch: record what they send to /responses.
globalThis.fetch = async (input, init) => {
  const url = typeof input === "string" ? input : input.url;
  if (url.endsWith("/responses") && init?.body) sent.push(JSON.parse(init.body));
  return realFetch(input, init);
};

const calls = [];
function getWeather({ city }) {
  calls.push(city);
  return `Sunny in ${city}, 21C`;
}
const cityParameters = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
  additionalProperties: false,
};

async function aiSdk() {
  const openai = createOpenAI({ baseURL, apiKey });
  const options = {
    model: openai(model), // the Responses API is the provider's default
    prompt,
    tools: {
      get_weather: tool({
        description: "Get the weather for a city.",
        inputSchema: jsonSchema(cityParameters),
        execute: async (input) => getWeather(input),
      }),
    },
    stopWhen: stepCountIs(8),
  };
  if (mode === "generate") {
    const result = await generateText(options);
    return {
      text: result.text,
      reasoning: result.steps.map((step) => step.reasoningText ?? ""),
      steps: result.steps.length,
    };
  }
  const result = streamText({ ...options, onError: ({ error }) => { throw error; } });
  const reasoningDeltas = [];
  const kinds = new Set();
  for await (const part of result.fullStream) {
    kinds.add(part.type);
    if (part.type === "reasoning-delta") reasoningDeltas.push(part.text ?? part.delta);
    if (part.type === "error") throw part.error;
  }
  const steps = await result.steps;
  return {
    text: await result.text,
    reasoning: steps.map((step) => step.reasoningText ?? ""),
    streamed_reasoning: reasoningDeltas.join(""),
    kinds: [...kinds],
    steps: steps.length,
  };
}

async function agentsJs() {
  const provider = new OpenAIProvider({ baseURL, apiKey, useResponses: true });
  const runner = new Runner({ modelProvider: provider, tracingDisabled: true });
  const agent = new Agent({
    name: "Assistant",
    instructions: "Answer briefly.",
    model,
    tools: [agentTool({
      name: "get_weather",
      description: "Get the weather for a city.",
      parameters: cityParameters,
      strict: true,
      execute: async (input) => getWeather(input),
    })],
  });
  if (mode === "run") {
    const result = await runner.run(agent, prompt, { maxTurns: 10 });
    return { text: result.finalOutput, reasoning: reasoningOf(result.newItems) };
  }
  const result = await runner.run(agent, prompt, { maxTurns: 10, stream: true });
  const kinds = new Set();
  for await (const event of result) {
    if (event.type === "raw_model_stream_event") kinds.add(event.data.type);
    else if (event.type === "run_item_stream_event") kinds.add(event.name);
  }
  await result.completed;
  return { text: result.finalOutput, reasoning: reasoningOf(result.newItems), kinds: [...kinds] };
}

function reasoningOf(items) {
  return items.filter((item) => item.type === "reasoning_item").map((item) => {
    const raw = item.rawItem;
    const parts = [...(raw.content ?? []), ...(raw.rawContent ?? [])];
    return parts.map((part) => part.text).join("");
  });
}

const clients = { "ai-sdk": aiSdk, "agents-js": agentsJs };
if (!(client in clients)) {
  console.error(`usage: node tool_loop.mjs <base_url> <model> ${Object.keys(clients).join("|")} <mode> <prompt>`);
  process.exit(2);
}
try {
  const result = await clients[client]();
  console.log(JSON.stringify({ ...result, calls, sent }));
} catch (error) {
  console.error(`${error?.constructor?.name ?? "Error"}: ${error?.message ?? error}`);
  if (error?.responseBody) console.error(error.responseBody);
  console.log(JSON.stringify({ error: String(error?.message ?? error), calls, sent }));
  process.exit(1);
}
