/* Frame provider on an MPU-6050 (accelerometer + gyroscope) over I2C, for the HAR model:
 * the sensor samples at the training rate (EC_PRE_IMU_RATE_HZ, its own clock into its
 * FIFO, so no sample depends on task timing) at the training data's full scales; each
 * call returns the next non-overlapping window of EC_PRE_IMU_STEPS samples, scaled to
 * the model's int8 input by the core (ec_pre_imu_window, multipliers in ec_settings.h).
 *
 * I2C driver: the v5.2+ `i2c_master` API. The legacy driver (driver/i2c.h) is deprecated
 * since v5.2, and an app may not mix the two: esp32-camera's SCCB and other components
 * already use the new one, and mixing aborts at start-up. */
#include "frame_provider.h"

#include <string.h>

#include "driver/i2c_master.h"
#include "ec_preprocess.h"
#include "ec_settings.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 2, 0)
#error "the IMU frame source needs ESP-IDF v5.2 or newer (the i2c_master driver)"
#endif
#ifndef EC_PRE_IMU_MULTS
#error "the IMU frame source needs an IMU model (EC_PRE_IMU_* in ec_settings.h): the HAR workload"
#endif

/* MPU-6050 registers (RM-MPU-6000A-00 rev 4.2) */
#define REG_SMPLRT_DIV 0x19
#define REG_CONFIG 0x1A
#define REG_GYRO_CONFIG 0x1B
#define REG_ACCEL_CONFIG 0x1C
#define REG_FIFO_EN 0x23
#define REG_INT_ENABLE 0x38
#define REG_INT_STATUS 0x3A
#define REG_USER_CTRL 0x6A
#define REG_PWR_MGMT_1 0x6B
#define REG_FIFO_COUNTH 0x72
#define REG_FIFO_R_W 0x74
#define REG_WHO_AM_I 0x75
#define FIFO_EN_ACCEL_GYRO 0x78 /* XG, YG, ZG, ACCEL: 12 bytes a sample, accel first */
#define USER_CTRL_FIFO_EN 0x40
#define USER_CTRL_FIFO_RESET 0x04
#define INT_FIFO_OFLOW 0x10 /* INT_STATUS flag and its INT_ENABLE bit (pin not wired) */
#define DLPF_44HZ 3 /* the gyro output rate is 1 kHz with the low-pass filter on */
#define SAMPLE_BYTES 12
#define FIFO_BYTES 1024
/* more than this many bytes: a sample was cut by an overflow (the FIFO drops its oldest
 * bytes, not whole samples), whether or not the chip raised the flag */
#define FIFO_WHOLE (FIFO_BYTES / SAMPLE_BYTES * SAMPLE_BYTES)
#define READ_SAMPLES 16 /* per I2C burst */
#define I2C_TIMEOUT_MS 50

_Static_assert(EC_PRE_IMU_CHANNELS == 6, "acc x y z, gyro x y z");
_Static_assert(1000 % EC_PRE_IMU_RATE_HZ == 0, "the rate must divide the 1 kHz gyro rate");

static const char *TAG = "ec_imu";
static const int32_t s_mults[EC_PRE_IMU_CHANNELS] = EC_PRE_IMU_MULTS;
static i2c_master_dev_handle_t s_dev;
static int16_t s_window[EC_PRE_IMU_STEPS * EC_PRE_IMU_CHANNELS];
static uint32_t s_overflows; /* FIFO overflows: the window restarted, samples lost */

static esp_err_t write_reg(uint8_t reg, uint8_t value)
{
    uint8_t buf[2] = {reg, value};
    return i2c_master_transmit(s_dev, buf, sizeof buf, I2C_TIMEOUT_MS);
}

static esp_err_t read_regs(uint8_t reg, uint8_t *out, size_t len)
{
    return i2c_master_transmit_receive(s_dev, &reg, 1, out, len, I2C_TIMEOUT_MS);
}

static uint8_t full_scale_bits(int value, int smallest)
{
    uint8_t bits = 0; /* 2 g / 250 deg/s -> 0, then x2 per step, in bits 4:3 */
    while (smallest < value && bits < 3) {
        smallest *= 2;
        bits++;
    }
    return (uint8_t)(bits << 3);
}

static esp_err_t fifo_restart(void)
{
    esp_err_t err = write_reg(REG_USER_CTRL, USER_CTRL_FIFO_RESET);
    if (err == ESP_OK) {
        err = write_reg(REG_USER_CTRL, USER_CTRL_FIFO_EN);
    }
    return err;
}

int frame_provider_init(void)
{
    i2c_master_bus_config_t bus_cfg;
    i2c_device_config_t dev_cfg;
    i2c_master_bus_handle_t bus;
    uint8_t who = 0;
    esp_err_t err;
    memset(&bus_cfg, 0, sizeof bus_cfg);
    bus_cfg.i2c_port = CONFIG_EC_IMU_I2C_PORT;
    bus_cfg.sda_io_num = CONFIG_EC_IMU_PIN_SDA;
    bus_cfg.scl_io_num = CONFIG_EC_IMU_PIN_SCL;
    bus_cfg.clk_source = I2C_CLK_SRC_DEFAULT;
    bus_cfg.glitch_ignore_cnt = 7;
    bus_cfg.flags.enable_internal_pullup = 1; /* breakout boards carry 4.7k pull-ups too */
    memset(&dev_cfg, 0, sizeof dev_cfg);
    dev_cfg.dev_addr_length = I2C_ADDR_BIT_LEN_7;
    dev_cfg.device_address = CONFIG_EC_IMU_I2C_ADDRESS;
    dev_cfg.scl_speed_hz = 400000;
    err = i2c_new_master_bus(&bus_cfg, &bus);
    if (err == ESP_OK) {
        err = i2c_master_bus_add_device(bus, &dev_cfg, &s_dev);
    }
    if (err == ESP_OK) {
        err = read_regs(REG_WHO_AM_I, &who, 1);
    }
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "no MPU-6050 at 0x%02x on SDA %d SCL %d: %s", CONFIG_EC_IMU_I2C_ADDRESS,
                 CONFIG_EC_IMU_PIN_SDA, CONFIG_EC_IMU_PIN_SCL, esp_err_to_name(err));
        return -1;
    }
    if (who != 0x68) {
        ESP_LOGW(TAG, "WHO_AM_I 0x%02x, not an MPU-6050's 0x68: trying its register map", who);
    }
    err = write_reg(REG_PWR_MGMT_1, 0x80); /* reset */
    vTaskDelay(pdMS_TO_TICKS(100));
    if (err == ESP_OK) {
        err = write_reg(REG_PWR_MGMT_1, 0x01); /* awake, clocked by the X gyro's PLL */
    }
    if (err == ESP_OK) {
        err = write_reg(REG_CONFIG, DLPF_44HZ);
    }
    if (err == ESP_OK) {
        err = write_reg(REG_SMPLRT_DIV, (uint8_t)(1000 / EC_PRE_IMU_RATE_HZ - 1));
    }
    if (err == ESP_OK) {
        err = write_reg(REG_GYRO_CONFIG, full_scale_bits(EC_PRE_IMU_GYRO_FS_DPS, 250));
    }
    if (err == ESP_OK) {
        err = write_reg(REG_ACCEL_CONFIG, full_scale_bits(EC_PRE_IMU_ACCEL_FS_G, 2));
    }
    if (err == ESP_OK) {
        err = write_reg(REG_FIFO_EN, FIFO_EN_ACCEL_GYRO);
    }
    if (err == ESP_OK) { /* the register map sets FIFO_OFLOW_INT for an enabled interrupt */
        err = write_reg(REG_INT_ENABLE, INT_FIFO_OFLOW);
    }
    if (err == ESP_OK) {
        err = fifo_restart();
    }
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "MPU-6050 set-up failed: %s", esp_err_to_name(err));
        return -1;
    }
    ESP_LOGI(TAG, "MPU-6050: %d Hz, +-%d g, +-%d deg/s, windows of %d samples",
             EC_PRE_IMU_RATE_HZ, EC_PRE_IMU_ACCEL_FS_G, EC_PRE_IMU_GYRO_FS_DPS,
             EC_PRE_IMU_STEPS);
    return 0;
}

const char *frame_provider_name(void)
{
    return "imu";
}

/* Append what the FIFO holds (at most what the window still needs) to s_window.
 * Returns the samples now in the window, or < 0 on an I2C error. */
static int drain_fifo(int have)
{
    uint8_t raw[READ_SAMPLES * SAMPLE_BYTES];
    uint8_t count_be[2];
    uint8_t status = 0;
    int count;
    int available;
    if (read_regs(REG_INT_STATUS, &status, 1) != ESP_OK ||
        read_regs(REG_FIFO_COUNTH, count_be, sizeof count_be) != ESP_OK) {
        return -1;
    }
    count = (count_be[0] << 8) | count_be[1];
    if ((status & INT_FIFO_OFLOW) || count > FIFO_WHOLE) {
        /* samples were lost and the rest may be cut mid-sample: a window must be
         * contiguous and aligned, so it starts again on an empty FIFO */
        s_overflows++;
        ESP_LOGW(TAG, "sensor FIFO overflowed (%u so far): window restarted",
                 (unsigned)s_overflows);
        return fifo_restart() == ESP_OK ? 0 : -1;
    }
    available = count / SAMPLE_BYTES;
    while (available > 0 && have < EC_PRE_IMU_STEPS) {
        int n = available;
        int i;
        n = n > READ_SAMPLES ? READ_SAMPLES : n;
        n = n > EC_PRE_IMU_STEPS - have ? EC_PRE_IMU_STEPS - have : n;
        if (read_regs(REG_FIFO_R_W, raw, (size_t)n * SAMPLE_BYTES) != ESP_OK) {
            return -1;
        }
        for (i = 0; i < n * EC_PRE_IMU_CHANNELS; i++) { /* big-endian int16 */
            s_window[have * EC_PRE_IMU_CHANNELS + i] =
                (int16_t)(uint16_t)((raw[2 * i] << 8) | raw[2 * i + 1]);
        }
        have += n;
        available -= n;
    }
    return have;
}

int frame_provider_next(int8_t *input, uint8_t *pixels, size_t n, int *label)
{
    int have = 0;
    (void)pixels;
    *label = -1;
    if (n != (size_t)EC_PRE_IMU_STEPS * EC_PRE_IMU_CHANNELS) {
        return -1;
    }
    /* The FIFO holds 1024 bytes (85 samples, 1.7 s at 50 Hz): polled every 100 ms. */
    while (have < EC_PRE_IMU_STEPS) {
        have = drain_fifo(have);
        if (have < 0) {
            ESP_LOGW(TAG, "I2C read failed");
            return -1;
        }
        if (have < EC_PRE_IMU_STEPS) {
            vTaskDelay(pdMS_TO_TICKS(100));
        }
    }
    return ec_pre_imu_window(s_window, EC_PRE_IMU_STEPS, EC_PRE_IMU_CHANNELS, s_mults,
                             EC_PRE_SHIFT, EC_INPUT_ZERO_POINT, input);
}
