# Checks that cria.h serves an MSVC program: compiled by clang with MSVC's target and rules
# (no MSVC here), as C99 and C++11, pedantic, both for cria.dll (dllimport) and for the
# static library (CRIA_STATIC); and after preprocessing, cria.h's own lines hold no GCC-only
# construct (attributes, statement expressions, typeof, builtins, asm).
#   cmake -DCLANG=clang -DHEADER_DIR=capi -DWORK=dir -P CriaCheckHeaderMsvc.cmake
foreach(v CLANG HEADER_DIR WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "CriaCheckHeaderMsvc: ${v} is not set")
  endif()
endforeach()
set(source ${WORK}/msvc_consumer.c)
file(WRITE ${source} "#include \"cria.h\"\nint main(void) { return cria_abi_version() == CRIA_ABI_VERSION ? 0 : 1; }\n")
set(target --target=x86_64-pc-windows-msvc -ffreestanding -I${HEADER_DIR})
foreach(language "c;-std=c99" "c++;-std=c++11")
  list(GET language 0 lang)
  list(GET language 1 standard)
  foreach(linkage "-DCRIA_LINKS_THE_DLL" "-DCRIA_STATIC")
    execute_process(COMMAND ${CLANG} ${target} -fsyntax-only -Werror -Wall -Wextra -pedantic ${standard}
                            ${linkage} -x ${lang} ${source}
      RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "cria.h as MSVC ${lang} (${standard} ${linkage}) does not compile:\n${out}${err}")
    endif()
  endforeach()
endforeach()

execute_process(COMMAND ${CLANG} ${target} -E -x c ${source}
  RESULT_VARIABLE rc OUTPUT_VARIABLE preprocessed ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cannot preprocess cria.h for MSVC: ${err}")
endif()
# Keep the lines that come from cria.h (line markers name the file they continue).
string(REPLACE ";" "\\;" preprocessed "${preprocessed}")
string(REPLACE "\n" ";" lines "${preprocessed}")
set(in_header FALSE)
set(header_text "")
foreach(line IN LISTS lines)
  if(line MATCHES "^# [0-9]+ \"([^\"]*)\"")
    string(REGEX MATCH "cria\\.h$" in_header "${CMAKE_MATCH_1}")
  elseif(in_header)
    string(APPEND header_text "${line}\n")
  endif()
endforeach()
if(NOT header_text MATCHES "__declspec\\(dllimport\\)")
  message(FATAL_ERROR "cria.h does not declare its functions dllimport for MSVC programs")
endif()
foreach(construct "__attribute__" "__typeof" "__extension__" "__builtin_" "__asm" "\\(\\{")
  if(header_text MATCHES "${construct}")
    message(FATAL_ERROR "cria.h holds a GCC-only construct for MSVC programs: ${construct}")
  endif()
endforeach()
message(STATUS "cria.h compiles as MSVC C99 and C++11, for cria.dll and the static library")
