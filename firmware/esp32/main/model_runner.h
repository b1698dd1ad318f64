/* model_runner.h - the mcu model through TensorFlow Lite Micro (C interface). */
#ifndef MODEL_RUNNER_H
#define MODEL_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t input_len;   /* int8 elements of the input tensor */
    float input_scale;
    int32_t input_zero_point;
    size_t output_len;  /* classes */
    float output_scale;
    int32_t output_zero_point;
    size_t arena_used;
} model_info_t;

/* Load a model (the generated array, or a model slot mapped from flash: ota_esp32.h)
 * into an interpreter using arena[arena_size].
 * Checks the schema version, the int8 input/output types and that the input holds
 * expected_input elements (the frame source's size). 0 or a negative code; *why
 * gets a short reason on failure. */
int model_runner_init(const uint8_t *model_data, uint8_t *arena, size_t arena_size,
                      size_t expected_input,
                      model_info_t *info, const char **why);
/* Run one inference: input[info.input_len] int8 -> output[info.output_len] int8. */
int model_runner_invoke(const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif
