/* The provisioning line protocol (ec_provision) on the console UART. Log lines share
 * the UART; hosts ignore every line that does not start with "EC ". */
#include "serial_console.h"

#include "driver/uart.h"
#include "ec_platform.h"
#include "ec_provision.h"
#include "esp_log.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#ifdef CONFIG_ESP_CONSOLE_UART_NUM
#define CONSOLE_UART CONFIG_ESP_CONSOLE_UART_NUM
#else
#define CONSOLE_UART UART_NUM_0
#endif

static const char *TAG = "ec_console";
static ec_provision_t s_prov;
static SemaphoreHandle_t s_lock;

static void console_task(void *arg)
{
    uint8_t buf[64];
    char answer[EC_LINE_MAX + 2];
    (void)arg;
    for (;;) {
        int n = uart_read_bytes(CONSOLE_UART, buf, sizeof buf, pdMS_TO_TICKS(100));
        for (int i = 0; i < n; i++) {
            int len;
            bool reboot;
            xSemaphoreTake(s_lock, portMAX_DELAY);
            len = ec_provision_feed(&s_prov, buf[i], ec_platform_now_ms(), answer, sizeof answer);
            reboot = s_prov.reboot_requested;
            xSemaphoreGive(s_lock);
            if (len > 0) {
                uart_write_bytes(CONSOLE_UART, answer, (size_t)len);
            }
            if (reboot) {
                uart_wait_tx_done(CONSOLE_UART, pdMS_TO_TICKS(200));
                esp_restart();
            }
        }
    }
}

void serial_console_start(ec_settings_t *settings, const char *fw_version)
{
    s_lock = xSemaphoreCreateMutex();
    ec_provision_init(&s_prov, settings, fw_version);
    if (!uart_is_driver_installed(CONSOLE_UART)) {
        ESP_ERROR_CHECK(uart_driver_install(CONSOLE_UART, 512, 0, 0, NULL, 0));
    }
    xTaskCreate(console_task, "ec_console", 4096, NULL, 5, NULL);
    ESP_LOGI(TAG, "provisioning on UART%d (send 'EC HELLO')", (int)CONSOLE_UART);
}

bool serial_console_paused(void)
{
    bool paused;
    if (s_lock == NULL) {
        return false;
    }
    xSemaphoreTake(s_lock, portMAX_DELAY);
    paused = ec_provision_paused(&s_prov, ec_platform_now_ms());
    xSemaphoreGive(s_lock);
    return paused;
}

void serial_console_write(const uint8_t *data, size_t len)
{
    uart_write_bytes(CONSOLE_UART, data, len);
}
