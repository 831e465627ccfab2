# schema/lint.cmake: the rules that keep every SQL function in one place.
#
#   * Each schema/functions/<name>.sql defines exactly one function (or
#     procedure), <name>, with CREATE OR REPLACE: migrate re-applies the file
#     whenever it changes, on databases that already have the function.
#   * A numbered migration (schema/NNNN_*.sql) defines none, except helpers in
#     pg_temp that it uses and drops itself: a function's body lives only in
#     its file, so that `git log schema/functions/<name>.sql` is its history.
#   * Hence no function is defined in two files under schema/; that is checked
#     directly too, with a message naming both files.
#
# Comments (-- to the end of the line) are ignored; keywords are matched in
# any case. Run on its own (ctest: schema.functions_defined_once) as
#   cmake -DSCHEMA_DIR=.../schema -P schema/lint.cmake
# or included by embed.cmake with SCHEMA_DIR set, so a violation stops the build.
if(NOT SCHEMA_DIR)
  get_filename_component(SCHEMA_DIR ${CMAKE_CURRENT_LIST_FILE} DIRECTORY)
endif()

set(_ws "[ \t\r\n]+")
set(_create "CREATE${_ws}(OR${_ws}REPLACE${_ws})?(FUNCTION|PROCEDURE)${_ws}")

# Sets out_var to the functions that file f defines, as "name|REPLACE" or
# "name|PLAIN" (CREATE without OR REPLACE).
function(_lint_definitions f out_var)
  file(READ ${f} text)
  string(REGEX REPLACE "--[^\n]*" "" text "${text}")
  string(TOUPPER "${text}" text)
  string(REGEX MATCHALL "${_create}[A-Z0-9_.\"]+" defs "${text}")
  set(result "")
  foreach(d ${defs})
    string(REGEX REPLACE "^.*${_ws}([A-Z0-9_.\"]+)$" "\\1" name "${d}")
    string(REPLACE "\"" "" name "${name}")
    string(REGEX REPLACE "^PUBLIC\\." "" name "${name}")
    string(TOLOWER "${name}" name) # unquoted identifiers fold to lower case
    if(d MATCHES "REPLACE")
      list(APPEND result "${name}|REPLACE")
    else()
      list(APPEND result "${name}|PLAIN")
    endif()
  endforeach()
  set(${out_var} "${result}" PARENT_SCOPE)
endfunction()

file(GLOB _lint_migrations ${SCHEMA_DIR}/[0-9][0-9][0-9][0-9]_*.sql)
file(GLOB _lint_functions ${SCHEMA_DIR}/functions/*.sql)
list(SORT _lint_migrations)
list(SORT _lint_functions)
set(_lint_errors "")
set(_lint_seen "") # NAME=file pairs

foreach(f ${_lint_migrations} ${_lint_functions})
  file(RELATIVE_PATH rel ${SCHEMA_DIR}/.. ${f})
  get_filename_component(base ${f} NAME_WE)
  _lint_definitions(${f} defs)
  set(is_function_file FALSE)
  if(f MATCHES "/functions/[^/]+$")
    set(is_function_file TRUE)
  endif()
  set(own 0)
  foreach(d ${defs})
    string(REGEX REPLACE "\\|.*$" "" name "${d}")
    if(name MATCHES "^pg_temp\\.")
      continue() # a migration's own helper
    endif()
    if(is_function_file)
      if(NOT name STREQUAL base)
        list(APPEND _lint_errors "${rel} defines ${name}: a function file defines only the function it is named after")
      elseif(d MATCHES "\\|PLAIN$")
        list(APPEND _lint_errors "${rel}: use CREATE OR REPLACE, so that migrate can re-apply it")
      endif()
      math(EXPR own "${own} + 1")
    else()
      list(APPEND _lint_errors "${rel} defines function ${name}: functions live in schema/functions/<name>.sql, not in migrations")
    endif()
    foreach(pair ${_lint_seen})
      if(pair MATCHES "^${name}=(.*)$")
        list(APPEND _lint_errors "function ${name} is defined in two places: ${CMAKE_MATCH_1} and ${rel}")
      endif()
    endforeach()
    list(APPEND _lint_seen "${name}=${rel}")
  endforeach()
  if(is_function_file AND own EQUAL 0)
    list(APPEND _lint_errors "${rel} defines no function ${base}")
  endif()
endforeach()

if(_lint_errors)
  string(REPLACE ";" "\n  " _lint_text "${_lint_errors}")
  message(FATAL_ERROR "schema check failed:\n  ${_lint_text}")
endif()
