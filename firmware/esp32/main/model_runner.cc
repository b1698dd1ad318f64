// The mcu model through TensorFlow Lite Micro (esp-tflite-micro component).
#include "model_runner.h"

#include <cstring>
#include <new>

#include "mcu_model_data.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {

// Exactly the ops of the two mcu models the app builds with (checked with the LiteRT op
// lists): models/mnist-mcu.tflite (CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED,
// SOFTMAX) and models/har/har-mcu.tflite (those but MAX_POOL_2D, plus EXPAND_DIMS, MEAN,
// TRANSPOSE). Eight registrations cost a few hundred bytes of flash, not arena.
constexpr int kNumOps = 8;

tflite::MicroMutableOpResolver<kNumOps> *resolver = nullptr;
tflite::MicroInterpreter *interpreter = nullptr;
alignas(tflite::MicroMutableOpResolver<kNumOps>) uint8_t resolver_buf[sizeof(
    tflite::MicroMutableOpResolver<kNumOps>)];
alignas(tflite::MicroInterpreter) uint8_t interpreter_buf[sizeof(tflite::MicroInterpreter)];

size_t elements(const TfLiteTensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->dims->size; i++) {
        n *= static_cast<size_t>(t->dims->data[i]);
    }
    return n;
}

}  // namespace

extern "C" int model_runner_init(const uint8_t *model_data, uint8_t *arena, size_t arena_size,
                                 size_t expected_input, model_info_t *info, const char **why)
{
    const tflite::Model *model = tflite::GetModel(model_data);
    if (model->version() != TFLITE_SCHEMA_VERSION) {
        *why = "model schema version not supported";
        return -1;
    }
    resolver = new (resolver_buf) tflite::MicroMutableOpResolver<kNumOps>();
    if (resolver->AddConv2D() != kTfLiteOk || resolver->AddMaxPool2D() != kTfLiteOk ||
        resolver->AddReshape() != kTfLiteOk || resolver->AddFullyConnected() != kTfLiteOk ||
        resolver->AddSoftmax() != kTfLiteOk || resolver->AddExpandDims() != kTfLiteOk ||
        resolver->AddMean() != kTfLiteOk || resolver->AddTranspose() != kTfLiteOk) {
        *why = "op resolver full";
        return -2;
    }
    interpreter = new (interpreter_buf) tflite::MicroInterpreter(model, *resolver, arena, arena_size);
    if (interpreter->AllocateTensors() != kTfLiteOk) {
        *why = "tensor arena too small (see EC_TENSOR_ARENA_BYTES)";
        return -3;
    }
    TfLiteTensor *in = interpreter->input(0);
    TfLiteTensor *out = interpreter->output(0);
    if (in->type != kTfLiteInt8 || out->type != kTfLiteInt8) {
        *why = "model input/output must be int8";
        return -4;
    }
    if (elements(in) != expected_input) {
        *why = "model input shape does not match the frame source";
        return -5;
    }
    info->input_len = elements(in);
    info->input_scale = in->params.scale;
    info->input_zero_point = in->params.zero_point;
    info->output_len = elements(out);
    info->output_scale = out->params.scale;
    info->output_zero_point = out->params.zero_point;
    info->arena_used = interpreter->arena_used_bytes();
    return 0;
}

extern "C" int model_runner_invoke(const int8_t *input, int8_t *output)
{
    if (interpreter == nullptr) {
        return -1;
    }
    TfLiteTensor *in = interpreter->input(0);
    std::memcpy(in->data.int8, input, in->bytes);
    if (interpreter->Invoke() != kTfLiteOk) {
        return -2;
    }
    TfLiteTensor *out = interpreter->output(0);
    std::memcpy(output, out->data.int8, out->bytes);
    return 0;
}
