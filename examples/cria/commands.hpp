#pragma once
// The sub-commands of the cria CLI. Each gets the arguments after its name and returns the
// process exit status.

int cmd_run(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_embed(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_detokenize(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_synth(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_devices(int argc, char** argv);
