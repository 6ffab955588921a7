// llama.cpp's prompt and generation speed on one GGUF file, measured like llama-bench: a prompt
// of random tokens into an empty cache, then single-token steps from an empty cache, median of
// the repetitions after one warm-up. llama.cpp comes from node-llama-cpp's prebuilt binaries
// (the llama.cpp CPU backends for every x86 level, AMX included), as no other build of it
// installs without the internet.
//
// usage: node llama_bench.mjs MODEL map|read N_PROMPT N_GEN REPETITIONS THREADS [GPU]
// GPU: "vulkan" or "cuda" runs every layer on that backend's first device (Vulkan: set
// GGML_VK_VISIBLE_DEVICES=0 for a device on the CPU such as lavapipe); default: the CPU.
// prints one JSON object.
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, mode, promptArg, genArg, repsArg, threadsArg, gpuArg] = process.argv.slice(2);
const gpu = gpuArg && gpuArg !== "cpu" ? gpuArg : false;
const nPrompt = Number(promptArg), nGen = Number(genArg), reps = Number(repsArg);
const threads = Number(threadsArg || 2);
const backendLines = [];
const llama = await getLlama({
  gpu, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.info,
  logger: (level, message) => { if (/load_backend|buffer size|ggml_vulkan: \d|using device/.test(message)) backendLines.push(message.trim()); },
});
const loadStart = performance.now();
const model = await llama.loadModel({modelPath, useMmap: mode === "map", gpuLayers: gpu ? "max" : 0});
const loadSeconds = (performance.now() - loadStart) / 1000;
const context = await model.createContext({
  contextSize: Math.max(512, nPrompt + nGen + 8), batchSize: Math.max(512, nPrompt),
  threads: {ideal: threads, min: threads}, sequences: 1,
});
const sequence = context.getSequence();

// Random ids past the three special ones, within the file's vocabulary.
const vocabSize = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 32000;
const randomTokens = (n) => Array.from({length: n}, () => 3 + Math.floor(Math.random() * (vocabSize - 3)));
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const promptRates = [], genRates = [];
for (let r = 0; r <= reps; ++r) {  // repetition 0 warms up
  if (nPrompt > 0) {
    await sequence.clearHistory();
    const start = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(randomTokens(nPrompt));
    if (r > 0) promptRates.push(nPrompt / ((performance.now() - start) / 1000));
  }
  if (nGen > 0) {
    await sequence.clearHistory();
    let steps = 0, start = 0;
    // The first token out is the start token's step; time the nGen steps after it.
    for await (const token of sequence.evaluate(randomTokens(1), {temperature: 0})) {
      if (steps === 0) start = performance.now();
      if (++steps > nGen) break;
    }
    if (r > 0) genRates.push(nGen / ((performance.now() - start) / 1000));
  }
}
// The CPU backend ggml chose for this CPU (its best-scoring libggml-cpu-*.so), from the
// libraries this process has mapped.
const cpuVariant = [...new Set(readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-[\w-]+\.so/g) ?? [])];
console.log(JSON.stringify({
  engine: "llama.cpp via node-llama-cpp " + process.env.NODE_LLAMA_CPP_VERSION, model: modelPath, load: mode,
  gpu: gpu || "cpu",
  threads, load_ms: loadSeconds * 1000, n_prompt: nPrompt, n_gen: nGen, repetitions: reps,
  prompt_tokens_per_s: nPrompt > 0 ? median(promptRates) : null, gen_tokens_per_s: nGen > 0 ? median(genRates) : null,
  prompt_runs: promptRates, gen_runs: genRates, backend: backendLines, cpu_variant: cpuVariant,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
