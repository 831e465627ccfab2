# schema/lint_selftest.cmake: schema/lint.cmake catches what it is there for.
# Copies the schema to SCRATCH, breaks it in one way at a time, and expects
# the check to fail with a message naming the culprit; the copy unbroken must
# pass. Run as: cmake -DSCHEMA_DIR=... -DSCRATCH=... -P lint_selftest.cmake
set(lint ${CMAKE_CURRENT_LIST_DIR}/lint.cmake)

# Runs the check on a fresh copy after `mutation` (a CMake snippet run with
# DIR set to the copy); expects it to fail with `want` in its output, or to
# pass when want is "".
function(expect label mutation want)
  set(DIR ${SCRATCH}/schema)
  file(REMOVE_RECURSE ${SCRATCH})
  file(COPY ${SCHEMA_DIR}/ DESTINATION ${DIR} FILES_MATCHING PATTERN "*.sql")
  cmake_language(EVAL CODE "${mutation}")
  execute_process(COMMAND ${CMAKE_COMMAND} -DSCHEMA_DIR=${DIR} -P ${lint}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(want STREQUAL "")
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${label}: the check failed on a correct schema:\n${out}")
    endif()
  elseif(rc EQUAL 0)
    message(FATAL_ERROR "${label}: the check passed; expected a failure naming \"${want}\"")
  elseif(NOT out MATCHES "${want}")
    message(FATAL_ERROR "${label}: expected \"${want}\" in:\n${out}")
  endif()
endfunction()

expect("unchanged" "" "")
# A second definition of rd_us, in another function file.
expect("defined in two files" [[
  file(READ ${DIR}/functions/rd_us.sql t)
  file(WRITE ${DIR}/functions/rd_zz.sql "${t}")
]] "function rd_us is defined in two places: schema/functions/rd_us.sql and schema/functions/rd_zz.sql")
# A migration restating a function's body, in lower case.
expect("restated in a migration" [[
  file(APPEND ${DIR}/0005_every_tick.sql "\ncreate function rd_ts(us bigint) returns int language sql as $$ select 1 $$;\n")
]] "schema/0005_every_tick.sql defines function rd_ts")
# A function file without OR REPLACE.
expect("plain CREATE" [[
  file(READ ${DIR}/functions/rd_us.sql t)
  string(REPLACE "CREATE OR REPLACE FUNCTION" "CREATE FUNCTION" t "${t}")
  file(WRITE ${DIR}/functions/rd_us.sql "${t}")
]] "schema/functions/rd_us.sql: use CREATE OR REPLACE")
# A migration's own helper in pg_temp, and a definition only in a comment: fine.
expect("pg_temp helper and comment" [[
  file(APPEND ${DIR}/0005_every_tick.sql "-- CREATE FUNCTION rd_us(x int)\nCREATE FUNCTION pg_temp.fix() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
]] "")
file(REMOVE_RECURSE ${SCRATCH})
