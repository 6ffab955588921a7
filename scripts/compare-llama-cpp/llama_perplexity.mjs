// llama.cpp's perplexity of a token sequence: the probability it gives each next token, with
// no sampling filter (temperature 1, top-k and min-p off), from one evaluation of the whole
// sequence. Run from the directory where run.sh installed node-llama-cpp.
//
// usage: node llama_perplexity.mjs MODEL IDS_FILE   (IDS_FILE: token ids, e.g. from `cria tokenize`)
// prints {"tokens": N, "perplexity": X}.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import fs from "node:fs";

const [modelPath, idsPath] = process.argv.slice(2);
const ids = fs.readFileSync(idsPath, "utf8").trim().split(/[\s,]+/).map(Number);
const llama = await getLlama({gpu: false, build: "never", maxThreads: 2, logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: ids.length + 8, batchSize: ids.length + 8, threads: 2});
const sequence = context.getSequence();
const unfiltered = {temperature: 1, topK: 1 << 30, topP: 1, minP: 0};
const steps = await sequence.controlledEvaluate(
  ids.slice(0, -1).map((token) => [token, {generateNext: {probabilities: true, options: unfiltered}}]));
let negativeLogLikelihood = 0;
for (let i = 0; i < steps.length; ++i) {
  const p = steps[i]?.next?.probabilities?.get(ids[i + 1]);
  if (p === undefined) throw new Error(`no probability for token ${i + 1}`);
  negativeLogLikelihood -= Math.log(p);
}
console.log(JSON.stringify({tokens: steps.length, perplexity: Math.exp(negativeLogLikelihood / steps.length)}));
await context.dispose();
await model.dispose();
await llama.dispose();
