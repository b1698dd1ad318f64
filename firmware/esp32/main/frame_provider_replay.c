/* Frame provider that replays frames stored in flash (replay_frames.h). */
#include "frame_provider.h"

#include <string.h>

#include "replay_frames.h"

static unsigned next_index;

void frame_provider_dims(int *height, int *width)
{
    *height = EC_REPLAY_HEIGHT;
    *width = EC_REPLAY_WIDTH;
}

int frame_provider_next(uint8_t *pixels, size_t n, int *label)
{
    if (n != sizeof ec_replay_frames[0]) {
        return -1;
    }
    memcpy(pixels, ec_replay_frames[next_index], n);
    *label = ec_replay_labels[next_index];
    next_index = (next_index + 1u) % EC_REPLAY_COUNT;
    return 0;
}
