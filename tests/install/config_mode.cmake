# tests/install/config_mode.cmake: `cmake --install` into a scratch DESTDIR
# leaves the configuration file mode 0640 (it may hold the database password).
# Run as: cmake -DBUILD_DIR=... -DSCRATCH=... -P config_mode.cmake
file(REMOVE_RECURSE "${SCRATCH}")
set(ENV{DESTDIR} "${SCRATCH}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" RESULT_VARIABLE rc
                OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
file(GLOB_RECURSE conf "${SCRATCH}/retentiond.yaml")
if(NOT conf)
  message(FATAL_ERROR "no retentiond.yaml installed under ${SCRATCH}")
endif()
execute_process(COMMAND stat -c %a ${conf} OUTPUT_VARIABLE mode
                OUTPUT_STRIP_TRAILING_WHITESPACE)
file(REMOVE_RECURSE "${SCRATCH}")
if(NOT mode STREQUAL "640")
  message(FATAL_ERROR "${conf} installed with mode ${mode}, expected 640")
endif()
