/* Frames stored in flash (replay_frames.h): the replay frame source, and the stored
 * frames the OTA self-test runs a downloaded model on (image models, any source). */
#include "frame_provider.h"

#include <string.h>

#include "ec_preprocess.h"
#include "ec_settings.h"
#include "replay_frames.h"

int frame_replay_get(unsigned index, int8_t *input, uint8_t *pixels, size_t n, int *label)
{
    if (n != sizeof ec_replay_frames[0] || pixels == NULL) {
        return -1;
    }
    index %= EC_REPLAY_COUNT;
    memcpy(pixels, ec_replay_frames[index], n);
    *label = ec_replay_labels[index];
    return ec_pre_quantize_u8(pixels, n, EC_PRE_Q_MULT, EC_PRE_SHIFT, EC_INPUT_ZERO_POINT, input);
}

#if !defined(CONFIG_EC_FRAME_SOURCE_CAMERA) && !defined(CONFIG_EC_FRAME_SOURCE_IMU)
static unsigned next_index;

int frame_provider_init(void)
{
    return 0;
}

const char *frame_provider_name(void)
{
    return "replay";
}

int frame_provider_next(int8_t *input, uint8_t *pixels, size_t n, int *label)
{
    return frame_replay_get(next_index++, input, pixels, n, label);
}
#endif
