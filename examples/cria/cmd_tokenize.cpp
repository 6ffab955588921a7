// cria tokenize / detokenize.
#include <stdexcept>

#include "commands.hpp"

int cmd_tokenize(int, char**) { throw std::runtime_error("tokenize: not available yet"); }
int cmd_detokenize(int, char**) { throw std::runtime_error("detokenize: not available yet"); }
