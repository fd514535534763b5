# Installation layout and CPack packages (.deb and .rpm from one build):
#   cmake -S . -B build -DCMAKE_INSTALL_PREFIX=/usr && cmake --build build
#   (cd build && cpack -G DEB && cpack -G RPM)
# Included (OPTIONAL) by the top-level CMakeLists.txt after the targets are defined.

include(GNUInstallDirs)

set(BERTH_PKG_DIR ${PROJECT_SOURCE_DIR}/packaging)
set(BERTH_SYSTEMD_DIR ${PROJECT_SOURCE_DIR}/systemd)
set(BERTH_PKG_BUILD_DIR ${PROJECT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${BERTH_PKG_BUILD_DIR})

set(BERTH_PACKAGE_CONTACT "berth maintainers <berth@example.com>"
    CACHE STRING "Maintainer of the berth packages (Name <email>)")

# ---- where systemd and D-Bus look ---------------------------------------------------------
# Debian 12's unit directory is /lib/systemd/system (pkg-config systemd systemdsystemunitdir);
# RPM distributions use /usr/lib/systemd/system. One build serves both packages: the unit is
# installed by two components and each generator packs its own (see BerthCPackOptions.cmake).
pkg_get_variable(BERTH_UNIT_DIR_DEB systemd systemdsystemunitdir)
if(NOT BERTH_UNIT_DIR_DEB)
  set(BERTH_UNIT_DIR_DEB /lib/systemd/system)
endif()
set(BERTH_UNIT_DIR_RPM /usr/lib/systemd/system)
pkg_get_variable(BERTH_SYSUSERS_DIR systemd sysusersdir)
if(NOT BERTH_SYSUSERS_DIR)
  set(BERTH_SYSUSERS_DIR /usr/lib/sysusers.d)
endif()
pkg_get_variable(BERTH_TMPFILES_DIR systemd tmpfilesdir)
if(NOT BERTH_TMPFILES_DIR)
  set(BERTH_TMPFILES_DIR /usr/lib/tmpfiles.d)
endif()
# Package-installed D-Bus policies belong in /usr/share/dbus-1/system.d (/etc/dbus-1/system.d
# is for the administrator's overrides).
set(BERTH_DBUS_POLICY_DIR ${CMAKE_INSTALL_FULL_DATADIR}/dbus-1/system.d)
# CMAKE_INSTALL_SYSCONFDIR is "etc" (relative: /usr/etc with prefix /usr); the FULL variant is
# /etc for the /usr prefix.
set(BERTH_CONFIG_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/berth)

# Destinations under the install prefix are given relative to it: CPack RPM marks every file
# installed to an absolute destination as %config.
function(berth_install_dest out path)
  file(RELATIVE_PATH rel ${CMAKE_INSTALL_PREFIX} ${path})
  if(rel MATCHES "^\\.\\.")
    set(${out} ${path} PARENT_SCOPE)
  else()
    set(${out} ${rel} PARENT_SCOPE)
  endif()
endfunction()
berth_install_dest(BERTH_UNIT_DIR_DEB ${BERTH_UNIT_DIR_DEB})
berth_install_dest(BERTH_UNIT_DIR_RPM ${BERTH_UNIT_DIR_RPM})
berth_install_dest(BERTH_SYSUSERS_DIR ${BERTH_SYSUSERS_DIR})
berth_install_dest(BERTH_TMPFILES_DIR ${BERTH_TMPFILES_DIR})
berth_install_dest(BERTH_DBUS_POLICY_DIR ${BERTH_DBUS_POLICY_DIR})

# ---- files ---------------------------------------------------------------------------------
# The binary: agent/CMakeLists.txt installs target berth to ${CMAKE_INSTALL_BINDIR} (bin).
install(FILES ${BERTH_SYSTEMD_DIR}/berth.service DESTINATION ${BERTH_UNIT_DIR_DEB} COMPONENT deb)
install(FILES ${BERTH_SYSTEMD_DIR}/berth.service DESTINATION ${BERTH_UNIT_DIR_RPM} COMPONENT rpm)
install(FILES ${BERTH_SYSTEMD_DIR}/berth.sysusers DESTINATION ${BERTH_SYSUSERS_DIR}
        RENAME berth.conf COMPONENT berth)
install(FILES ${BERTH_SYSTEMD_DIR}/berth.tmpfiles DESTINATION ${BERTH_TMPFILES_DIR}
        RENAME berth.conf COMPONENT berth)
install(FILES ${BERTH_SYSTEMD_DIR}/org.berth.Agent1.conf DESTINATION ${BERTH_DBUS_POLICY_DIR}
        COMPONENT berth)

# The configuration (a conffile). A fresh install must not start example services, so the
# installed /etc/berth/berth.toml is the documented example (config/berth.toml) with every line
# commented out: an empty stack until the operator writes services (postinst starts berth only
# when the configuration has [services.*] tables). The example itself goes to the docs.
set(BERTH_CONFIG_FILE ${BERTH_PKG_BUILD_DIR}/berth.toml)
string(CONCAT BERTH_DEFAULT_CONFIG
    "# /etc/berth/berth.toml: berth's configuration, see berth(8) and\n"
    "# /usr/share/doc/berth/examples/berth.toml. Every key of the documented example is below,\n"
    "# commented out: uncomment and edit, check with `berth check-config`, then\n"
    "# `systemctl restart berth` (or `systemctl reload berth` once it runs).\n#\n")
if(EXISTS ${PROJECT_SOURCE_DIR}/config/berth.toml)
  file(READ ${PROJECT_SOURCE_DIR}/config/berth.toml BERTH_EXAMPLE)
  string(REGEX REPLACE "\n$" "" BERTH_EXAMPLE "${BERTH_EXAMPLE}")
  string(REPLACE "\n" "\n# " BERTH_EXAMPLE "# ${BERTH_EXAMPLE}")
  string(REPLACE "# \n" "#\n" BERTH_EXAMPLE "${BERTH_EXAMPLE}")
  file(WRITE ${BERTH_CONFIG_FILE} "${BERTH_DEFAULT_CONFIG}${BERTH_EXAMPLE}\n")
  install(FILES ${PROJECT_SOURCE_DIR}/config/berth.toml
          DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT berth)
else()
  file(WRITE ${BERTH_CONFIG_FILE} "${BERTH_DEFAULT_CONFIG}[agent]\nproject = \"berth\"\n")
endif()
# 0640: berth.toml can hold secret environment values; root writes it, the berth group (the
# service) reads it. The scripts give it group berth once that group exists (postinst / %post).
install(FILES ${BERTH_CONFIG_FILE} DESTINATION ${BERTH_CONFIG_DIR} COMPONENT berth
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

set(BERTH_VERSION ${PROJECT_VERSION})

# Full RELRO for the packaged binary (lintian: hardening-no-bindnow).
if(TARGET berth)
  target_link_options(berth PRIVATE -Wl,-z,relro -Wl,-z,now)
endif()

# The man page, gzipped reproducibly (-n: no name or timestamp).
configure_file(${BERTH_PKG_DIR}/berth.8 ${BERTH_PKG_BUILD_DIR}/berth.8 @ONLY)
add_custom_command(
  OUTPUT ${BERTH_PKG_BUILD_DIR}/berth.8.gz
  COMMAND gzip -9n -c ${BERTH_PKG_BUILD_DIR}/berth.8 > ${BERTH_PKG_BUILD_DIR}/berth.8.gz
  DEPENDS ${BERTH_PKG_BUILD_DIR}/berth.8
  COMMENT "Compressing berth.8")
add_custom_target(berth_manpage ALL DEPENDS ${BERTH_PKG_BUILD_DIR}/berth.8.gz)
install(FILES ${BERTH_PKG_BUILD_DIR}/berth.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8
        COMPONENT berth)

# Debian wants /usr/share/doc/<package>/{copyright,changelog.gz}.
string(TIMESTAMP BERTH_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(BERTH_MAINTAINER ${BERTH_PACKAGE_CONTACT})
configure_file(${BERTH_PKG_DIR}/changelog.in ${BERTH_PKG_BUILD_DIR}/changelog @ONLY)
add_custom_command(
  OUTPUT ${BERTH_PKG_BUILD_DIR}/changelog.gz
  COMMAND gzip -9n -c ${BERTH_PKG_BUILD_DIR}/changelog > ${BERTH_PKG_BUILD_DIR}/changelog.gz
  DEPENDS ${BERTH_PKG_BUILD_DIR}/changelog)
add_custom_target(berth_changelog ALL DEPENDS ${BERTH_PKG_BUILD_DIR}/changelog.gz)
install(FILES ${BERTH_PKG_DIR}/copyright ${BERTH_PKG_BUILD_DIR}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT berth)

# ---- CPack ---------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME berth)
set(CPACK_PACKAGE_VENDOR "berth")
set(CPACK_PACKAGE_CONTACT ${BERTH_PACKAGE_CONTACT})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "on-host container agent for ECR images and compose-style services")
set(CPACK_PACKAGE_DESCRIPTION
    "berth runs a host's containers from one TOML file: it authenticates to\n\
Amazon ECR, resolves tags to digests, pulls what changed through the Docker\n\
Engine API, runs the services with a compose-style lifecycle (network,\n\
volumes, dependency order, health checks, restart policies, orphan removal)\n\
and reports every container's status to a fleet dashboard. systemd starts it\n\
at boot; operators use journalctl, systemctl, berth status and D-Bus.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR "DEB;RPM")
# One package per generator made of several install components (ALL_COMPONENTS_IN_ONE); which
# components go in is chosen per generator at cpack time (BerthCPackOptions.cmake).
set(CPACK_COMPONENTS_ALL Unspecified berth deb rpm)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)
configure_file(${BERTH_PKG_DIR}/BerthCPackOptions.cmake.in
               ${BERTH_PKG_BUILD_DIR}/BerthCPackOptions.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${BERTH_PKG_BUILD_DIR}/BerthCPackOptions.cmake)

# DEB
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "docker.io | docker-ce | docker, dbus")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${BERTH_PKG_DIR}/deb/postinst;${BERTH_PKG_DIR}/deb/prerm;${BERTH_PKG_DIR}/deb/postrm;${BERTH_PKG_DIR}/deb/conffiles")

# RPM
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "Undecided")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_PACKAGE_RELOCATABLE OFF)  # /etc and /lib paths: not relocatable
set(CPACK_RPM_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
# Boolean dependency (rpm >= 4.13): Amazon Linux's "docker", Docker's "docker-ce", Fedora's
# "moby-engine", or Podman's Docker-compatible socket.
set(CPACK_RPM_PACKAGE_REQUIRES "(docker or docker-ce or moby-engine or podman-docker), dbus")
set(CPACK_RPM_PACKAGE_REQUIRES_POST "systemd, shadow-utils")
set(CPACK_RPM_PACKAGE_REQUIRES_PREUN "systemd")
set(CPACK_RPM_PACKAGE_REQUIRES_POSTUN "systemd")
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${BERTH_PKG_DIR}/rpm/post.sh)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${BERTH_PKG_DIR}/rpm/preun.sh)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${BERTH_PKG_DIR}/rpm/postun.sh)
# rpm keeps an edited configuration on upgrade (and saves it as .rpmsave on removal).
set(CPACK_RPM_USER_FILELIST "%config(noreplace) ${BERTH_CONFIG_DIR}/berth.toml")
# Directories owned by the distribution's filesystem/systemd/dbus packages, not by berth.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/lib/systemd /usr/lib/systemd/system /usr/lib/sysusers.d /usr/lib/tmpfiles.d
    /usr/share/dbus-1 /usr/share/dbus-1/system.d /usr/share/doc /usr/share/man /usr/share/man/man8)

include(CPack)
