# packaging/install.cmake: install rules for everything that is not a target or a
# schema file: the configuration file, the systemd unit and the man pages.
#
# Included from the top-level CMakeLists.txt after include(GNUInstallDirs) and the
# install(TARGETS ...) rule; debian/rules also names it as CMAKE_PROJECT_INCLUDE
# so a package build does not depend on that line. The guard makes the second
# inclusion a no-op.
include_guard(GLOBAL)
include(GNUInstallDirs)

# With CMAKE_INSTALL_PREFIX=/usr, GNUInstallDirs makes the full sysconfdir /etc,
# where the binaries look by default (/etc/retentiond/retentiond.yaml).
set(RD_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/retentiond"
    CACHE PATH "Where the configuration file is installed")

# With the /usr prefix, systemd's own answer when its pkg-config file is there
# (Debian 12: /lib/systemd/system), else that path; with any other prefix (a
# local /usr/local install) under the prefix, so an unprivileged install
# never writes outside it.
if(NOT DEFINED RD_SYSTEMD_UNITDIR)
  set(_rd_unitdir "")
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_get_variable(_rd_unitdir systemd systemdsystemunitdir)
    endif()
    if(NOT _rd_unitdir)
      set(_rd_unitdir /lib/systemd/system)
    endif()
  else()
    set(_rd_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  endif()
  set(RD_SYSTEMD_UNITDIR "${_rd_unitdir}" CACHE PATH "Where the systemd unit is installed")
endif()
option(RD_INSTALL_SYSTEMD_UNIT "Install the systemd unit" ON)

# Mode 0640, because database.conninfo may hold a password. The daemon runs as
# the group retentiond (packaging/systemd/retentiond.service), so a plain
# `cmake --install` (no DESTDIR) also gives the file that group when it exists
# and the installer may (root); otherwise it says what to run. The Debian
# package ships it 0640 too (debian/rules runs chmod after dh_fixperms), and
# postinst registers root:retentiond 0640 with dpkg-statoverride once sysusers
# created the group, so dpkg itself applies that mode when an upgrade unpacks
# a new version of the file: it is never readable by others, not even for a
# moment.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/../config/retentiond.yaml
        DESTINATION ${RD_CONFIG_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(CODE "set(RD_CONFIG_DIR_AT_INSTALL \"${RD_CONFIG_DIR}\")")
install(CODE [[
  if("$ENV{DESTDIR}" STREQUAL "")
    set(_rd_conf "${RD_CONFIG_DIR_AT_INSTALL}/retentiond.yaml")
    execute_process(COMMAND getent group retentiond RESULT_VARIABLE _rd_nogroup
                    OUTPUT_QUIET ERROR_QUIET)
    if(_rd_nogroup EQUAL 0)
      execute_process(COMMAND chgrp retentiond "${_rd_conf}" RESULT_VARIABLE _rd_failed
                      OUTPUT_QUIET ERROR_QUIET)
    endif()
    if(NOT _rd_nogroup EQUAL 0 OR NOT _rd_failed EQUAL 0)
      message(STATUS "${_rd_conf} is 0640; the daemon reads it as the group retentiond: "
                     "run `chgrp retentiond ${_rd_conf}` once that group exists")
    endif()
  endif()
]])
if(RD_INSTALL_SYSTEMD_UNIT)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/systemd/retentiond.service
          DESTINATION ${RD_SYSTEMD_UNITDIR})
endif()
install(FILES ${CMAKE_CURRENT_LIST_DIR}/man/retentiond.8
              ${CMAKE_CURRENT_LIST_DIR}/man/retentionctl.8
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
# The network allow-list drop-in is documentation, not active configuration:
# an administrator copies it to /etc/systemd/system/retentiond.service.d/.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/systemd/retentiond.service.d/network.conf.example
              ${CMAKE_CURRENT_LIST_DIR}/systemd/retentiond.service.d/pgpass.conf.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# The monitoring pack: a Grafana dashboard and Prometheus alert rules, to copy
# into those servers (docs/operations.md, "Dashboard" and "Alerts").
install(FILES ${CMAKE_CURRENT_LIST_DIR}/grafana/retentiond.json
              ${CMAKE_CURRENT_LIST_DIR}/prometheus/retentiond.rules.yml
              ${CMAKE_CURRENT_LIST_DIR}/prometheus/retentiond.rules.test.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/retentiond/monitoring)
