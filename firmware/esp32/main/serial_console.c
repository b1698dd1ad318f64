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

/* The console port. CONFIG_ESP_CONSOLE_UART_NUM always exists and is -1 when the
 * console is not a UART (USB-Serial-JTAG, USB CDC, none): testing it with #ifdef picked
 * UART -1, and uart_driver_install(-1) failed inside ESP_ERROR_CHECK at boot. So:
 * USB-Serial-JTAG when that is the console (ESP32-S3/C3 boards on their USB port), the
 * console UART when there is one, else UART0 (USB CDC or no console). */
#if defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG)
#include "driver/usb_serial_jtag.h"
#define CONSOLE_USB_JTAG 1
#define CONSOLE_UART UART_NUM_0 /* unused */
#elif defined(CONFIG_ESP_CONSOLE_UART_NUM) && CONFIG_ESP_CONSOLE_UART_NUM >= 0
#define CONSOLE_UART CONFIG_ESP_CONSOLE_UART_NUM
#else
#define CONSOLE_UART UART_NUM_0
#endif
_Static_assert(CONSOLE_UART >= 0, "the console UART must be a real port (UART number >= 0)");

static const char *TAG = "ec_console";
static ec_provision_t s_prov;
static SemaphoreHandle_t s_lock;

#ifdef CONSOLE_USB_JTAG
static int console_read(uint8_t *buf, size_t cap)
{
    return usb_serial_jtag_read_bytes(buf, (uint32_t)cap, pdMS_TO_TICKS(100));
}

static void console_flush(void)
{
    vTaskDelay(pdMS_TO_TICKS(200)); /* no wait-for-TX call in this driver */
}

static esp_err_t console_install(void)
{
    usb_serial_jtag_driver_config_t cfg = {.tx_buffer_size = 512, .rx_buffer_size = 512};
    esp_err_t err = usb_serial_jtag_driver_install(&cfg);
    return err == ESP_ERR_INVALID_STATE ? ESP_OK : err; /* installed already: usable */
}
#define CONSOLE_NAME "USB-Serial-JTAG"
#else
static int console_read(uint8_t *buf, size_t cap)
{
    return uart_read_bytes(CONSOLE_UART, buf, (uint32_t)cap, pdMS_TO_TICKS(100));
}

static void console_flush(void)
{
    uart_wait_tx_done(CONSOLE_UART, pdMS_TO_TICKS(200));
}

static esp_err_t console_install(void)
{
    if (uart_is_driver_installed(CONSOLE_UART)) {
        return ESP_OK;
    }
    return uart_driver_install(CONSOLE_UART, 512, 0, 0, NULL, 0);
}
#define CONSOLE_NAME "UART"
#endif

static void console_task(void *arg)
{
    uint8_t buf[64];
    char answer[EC_LINE_MAX + 2];
    (void)arg;
    for (;;) {
        int n = console_read(buf, sizeof buf);
        for (int i = 0; i < n; i++) {
            int len;
            bool reboot;
            xSemaphoreTake(s_lock, portMAX_DELAY);
            len = ec_provision_feed(&s_prov, buf[i], ec_platform_now_ms(), answer, sizeof answer);
            reboot = s_prov.reboot_requested;
            xSemaphoreGive(s_lock);
            if (len > 0) {
                serial_console_write((const uint8_t *)answer, (size_t)len);
            }
            if (reboot) {
                console_flush();
                esp_restart();
            }
        }
    }
}

void serial_console_start(ec_settings_t *settings, const char *fw_version)
{
    s_lock = xSemaphoreCreateMutex();
    ec_provision_init(&s_prov, settings, fw_version);
    esp_err_t err = console_install();
    if (err != ESP_OK) { /* no provisioning, but the board keeps answering frames */
        ESP_LOGE(TAG, "console driver not installed (%s): serial provisioning off",
                 esp_err_to_name(err));
        return;
    }
    xTaskCreate(console_task, "ec_console", 4096, NULL, 5, NULL);
    ESP_LOGI(TAG, "provisioning on the %s console (send 'EC HELLO')", CONSOLE_NAME);
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
#ifdef CONSOLE_USB_JTAG
    usb_serial_jtag_write_bytes(data, len, pdMS_TO_TICKS(100));
#else
    uart_write_bytes(CONSOLE_UART, data, len);
#endif
}
