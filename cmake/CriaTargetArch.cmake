# The target's processor family, for the kernel files of one instruction set:
# CRIA_TARGET_X86_64 or CRIA_TARGET_AARCH64 (neither: the portable kernels only).
string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" cria_processor)
set(CRIA_TARGET_X86_64 OFF)
set(CRIA_TARGET_AARCH64 OFF)
if(cria_processor MATCHES "^(x86_64|amd64|x64)$")
  set(CRIA_TARGET_X86_64 ON)
elseif(cria_processor MATCHES "^(aarch64|arm64)$")
  set(CRIA_TARGET_AARCH64 ON)
endif()
