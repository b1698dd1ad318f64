#pragma once
#include <stddef.h>
#include <stdint.h>
#include "esp_err.h"
#include "freertos/FreeRTOS.h"
typedef int uart_port_t;
#define UART_NUM_0 0
esp_err_t uart_driver_install(uart_port_t, int, int, int, void *, int);
_Bool uart_is_driver_installed(uart_port_t);
int uart_read_bytes(uart_port_t, void *, uint32_t, TickType_t);
int uart_write_bytes(uart_port_t, const void *, size_t);
esp_err_t uart_wait_tx_done(uart_port_t, TickType_t);
