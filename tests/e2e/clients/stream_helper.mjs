// openai-node against the gateway: prints one JSON object on stdout, errors on stderr (exit 1).
//   node stream_helper.mjs <base_url> stream-tools   tool loop: responses.stream(), finalResponse()
//   node stream_helper.mjs <base_url> create         non-streaming responses.create()
//   node stream_helper.mjs <base_url> stream-reasoning [X-Reasoning-Events value]
//                                                    mock-think through responses.stream()
// The key comes from OPENAI_API_KEY. Run by tests/e2e/clients/test_sdk_stream_helpers.py.
import OpenAI from "openai";

const [baseURL, mode, reasoningEvents] = process.argv.slice(2);
const defaultHeaders = reasoningEvents ? { "X-Reasoning-Events": reasoningEvents } : {};
const client = new OpenAI({ baseURL, maxRetries: 0, timeout: 30_000, defaultHeaders });
const model = "mock-echo";
const tools = [{
  type: "function",
  name: "get_weather",
  description: "Get the weather for a city.",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
}];

function texts(response) {
  return response.output.filter((item) => item.type === "message")
    .flatMap((item) => item.content)
    .filter((part) => part.type === "output_text")
    .map((part) => part.text)
    .join("");
}

async function streamOnce(input) {
  const stream = client.responses.stream({ model, input, tools });
  const events = [];
  for await (const event of stream) events.push(event.type);
  const response = await stream.finalResponse();
  return { events, response };
}

async function streamTools() {
  const question = { role: "user", content: "What is the weather in Paris? Call the tool." };
  const first = await streamOnce([question]);
  const call = first.response.output.find((item) => item.type === "function_call");
  if (!call) throw new Error(`no function_call in ${JSON.stringify(first.response.output)}`);
  const output = { type: "function_call_output", call_id: call.call_id, output: "Sunny, 21C" };
  const second = await streamOnce([question, call, output]);
  return {
    first: { events: first.events, status: first.response.status, id: first.response.id, call },
    second: {
      events: second.events,
      status: second.response.status,
      text: texts(second.response),
      output_text: second.response.output_text ?? null,
    },
  };
}

async function create() {
  const response = await client.responses.create({ model, input: "say hi" });
  return {
    id: response.id,
    object: response.object,
    status: response.status,
    text: texts(response),
    output_text: response.output_text ?? null,
    usage: response.usage,
  };
}

async function streamReasoning() {
  const stream = client.responses.stream({ model: "mock-think", input: "ponder" });
  const events = [];
  let summary = "";
  let raw = "";
  for await (const event of stream) {
    events.push(event.type);
    if (event.type === "response.reasoning_summary_text.delta") summary += event.delta;
    if (event.type === "response.reasoning_text.delta") raw += event.delta;
  }
  const response = await stream.finalResponse();
  return { events, summary, raw, output: response.output, output_text: response.output_text };
}

const modes = { "stream-tools": streamTools, create, "stream-reasoning": streamReasoning };
if (!(mode in modes)) {
  console.error(`usage: node stream_helper.mjs <base_url> ${Object.keys(modes).join("|")}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await modes[mode]()));
} catch (error) {
  console.error(`${error?.constructor?.name ?? "Error"}: ${error?.message ?? error}`);
  process.exit(1);
}
