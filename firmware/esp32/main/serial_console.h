/* serial_console.h - the provisioning line protocol on the console UART. */
#ifndef SERIAL_CONSOLE_H
#define SERIAL_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_prov_settings.h"

/* Start the console task answering EC lines (see firmware/README.md). */
void serial_console_start(ec_settings_t *settings, const char *fw_version);
/* Whether reports are paused by a provisioning session (HELLO until EXIT / 30 s idle). */
bool serial_console_paused(void);
/* Write bytes (one whole serial frame) to the console UART in one driver call. */
void serial_console_write(const uint8_t *data, size_t len);

#endif
