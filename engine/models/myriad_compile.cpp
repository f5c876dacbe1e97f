// Minimal offline MYRIAD (MyriadX / RVC2) blob compiler against the OpenVINO 2021.4 Inference Engine
// shipped in the PyPI wheel openvino==2021.4.2 (libinference_engine.so + libmyriadPlugin.so).
// No OpenVINO headers: the few exported symbols used are declared here with matching signatures
// (the mangled names then match the library). Objects returned by value live in opaque, oversized
// buffers and are intentionally leaked (their real destructors are header-inline).
// Build: g++ -std=c++14 -O1 -D_GLIBCXX_USE_CXX11_ABI=0 myriad_compile.cpp -L$LIBS -linference_engine -Wl,-rpath,$LIBS
//
// Usage: myriad_compile -m model.onnx|.xml -o out.blob [-ip U8|FP16|FP32] [-iop NAME:U8,NAME:FP16]
//                       [-op FP16|FP32] [-sh 6] [-cmx 6] [-c KEY=VALUE ...]
//        myriad_compile -v          (prints the Inference Engine build number and exits)
//
// NightLab builds this file once with the system compiler (engine/models/_myriad.py) against the
// libraries of the pinned openvino==2021.4.2 wheel; the recipe and its measurements come from
// shared/tools/myriad-offline. Changes from that tool: per-input precisions (-iop), -v.
#include <cstdint>
#include <unistd.h>
#include <stdexcept>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace InferenceEngine {

class Precision {  // layout of ie_precision.hpp (2020.x-2021.4): PrecisionInfo {bitsSize, name, isFloat, value}
public:
    size_t bitsSize = 0;
    const char* name = "UNSPECIFIED";
    bool isFloat = false;
    uint8_t value = 255;
    static Precision make(const std::string& s) {
        Precision p;
        if (s == "FP16") { p.bitsSize = 16; p.name = "FP16"; p.isFloat = true; p.value = 11; }
        else if (s == "FP32") { p.bitsSize = 32; p.name = "FP32"; p.isFloat = true; p.value = 10; }
        else if (s == "U8") { p.bitsSize = 8; p.name = "U8"; p.isFloat = false; p.value = 40; }
        else { throw std::runtime_error("unsupported precision " + s); }
        return p;
    }
};

class Data {
public:
    void setPrecision(const Precision& precision);
    const Precision& getPrecision() const;  // 2021.4 returns a reference (this+0x40)
    const std::string& getName() const;
    const std::vector<size_t>& getDims() const;
};
using DataPtr = std::shared_ptr<Data>;
class InputInfo;
using InputsDataMap = std::map<std::string, std::shared_ptr<InputInfo>>;
using OutputsDataMap = std::map<std::string, DataPtr>;

class CNNNetwork {
    alignas(16) unsigned char _opaque[1024];
public:
    ~CNNNetwork() {}  // non-trivial => returned through a hidden pointer, as in the real class; leaks
    InputsDataMap getInputsInfo() const;
    OutputsDataMap getOutputsInfo() const;
};

class ExecutableNetwork {
    alignas(16) unsigned char _opaque[1024];
public:
    ~ExecutableNetwork() {}
    void Export(const std::string& modelFileName);
};

class Core {
    std::shared_ptr<void> _impl;  // real: std::shared_ptr<Impl>
public:
    explicit Core(const std::string& xmlConfigFile);
    CNNNetwork ReadNetwork(const std::string& modelPath, const std::string& binPath) const;
    ExecutableNetwork LoadNetwork(const CNNNetwork& network, const std::string& deviceName,
                                  const std::map<std::string, std::string>& config);
    void SetConfig(const std::map<std::string, std::string>& config, const std::string& deviceName);
};

}  // namespace InferenceEngine

struct IEVersion {  // ie_version.hpp: InferenceEngine::Version
    struct { int major; int minor; } apiVersion;
    const char* buildNumber;
    const char* description;
};
extern "C" const IEVersion* GetInferenceEngineVersion();

namespace IE = InferenceEngine;

// InputInfo (2021.x) = { PreProcessInfo _preProcessInfo; DataPtr _inputData; }. Find _inputData by
// probing 8-byte aligned offsets for a non-null shared_ptr whose Data name equals the map key.
static IE::DataPtr inputData(const std::string& name, const std::shared_ptr<IE::InputInfo>& info) {
    const unsigned char* base = reinterpret_cast<const unsigned char*>(info.get());
    for (size_t off : {40, 32, 48, 24, 56, 64}) {
        const IE::DataPtr* cand = reinterpret_cast<const IE::DataPtr*>(base + off);
        const void* const* raw = reinterpret_cast<const void* const*>(base + off);
        if (raw[0] == nullptr || raw[1] == nullptr) continue;  // object ptr, control block ptr
        if ((*cand)->getName() == name) return *cand;
    }
    throw std::runtime_error("could not locate InputInfo::_inputData for " + name);
}

static std::string dims(const std::vector<size_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
    return s + "]";
}

// "night_gray:U8,ref_l:FP16" -> {night_gray: U8, ref_l: FP16}
static std::map<std::string, std::string> perInput(const std::string& spec) {
    std::map<std::string, std::string> out;
    size_t start = 0;
    while (start < spec.size()) {
        size_t end = spec.find(',', start);
        if (end == std::string::npos) end = spec.size();
        std::string item = spec.substr(start, end - start);
        size_t colon = item.rfind(':');
        if (colon == std::string::npos || colon == 0) throw std::runtime_error("bad -iop item " + item);
        out[item.substr(0, colon)] = item.substr(colon + 1);
        start = end + 1;
    }
    return out;
}

int main(int argc, char** argv) {
    std::string model, out, ip = "FP16", op = "FP16", shaves = "6", cmx = "6", binPath, iop;
    std::map<std::string, std::string> extra;
    if (argc == 2 && std::string(argv[1]) == "-v") {
        const IEVersion* v = GetInferenceEngineVersion();
        std::cout << "version " << v->apiVersion.major << "." << v->apiVersion.minor << " "
                  << v->buildNumber << "\n";
        std::cout.flush();
        _exit(0);
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "-m") model = v;
        else if (k == "-o") out = v;
        else if (k == "-w") binPath = v;
        else if (k == "-ip") ip = v;
        else if (k == "-iop") iop = v;
        else if (k == "-op") op = v;
        else if (k == "-sh") shaves = v;
        else if (k == "-cmx") cmx = v;
        else if (k == "-c") { auto e = v.find('='); extra[v.substr(0, e)] = v.substr(e + 1); }
        else { std::cerr << "unknown option " << k << "\n"; return 2; }
    }
    if (model.empty() || out.empty()) {
        std::cerr << "usage: " << argv[0] << " -m model.onnx -o out.blob [-ip U8|FP16|FP32] [-op FP16|FP32]"
                  << " [-sh 6] [-cmx 6] [-c KEY=VALUE]\n";
        return 2;
    }
    try {
        IE::Core core{std::string()};
        std::map<std::string, std::string> named = perInput(iop);
        IE::CNNNetwork net = core.ReadNetwork(model, binPath);
        for (auto& kv : net.getInputsInfo()) {
            IE::DataPtr d = inputData(kv.first, kv.second);
            IE::Precision before = d->getPrecision();
            auto it = named.find(kv.first);
            if (it != named.end()) {
                d->setPrecision(IE::Precision::make(it->second));
                named.erase(it);
            } else if (before.isFloat || ip == "U8") {
                d->setPrecision(IE::Precision::make(ip));
            }
            std::cout << "input  " << kv.first << " " << dims(d->getDims()) << " " << before.name << " -> "
                      << d->getPrecision().name << "\n";
        }
        if (!named.empty()) throw std::runtime_error("-iop names no input " + named.begin()->first);
        for (auto& kv : net.getOutputsInfo()) {
            IE::Precision before = kv.second->getPrecision();
            if (before.isFloat) kv.second->setPrecision(IE::Precision::make(op));
            std::cout << "output " << kv.first << " " << dims(kv.second->getDims()) << " " << before.name << " -> "
                      << kv.second->getPrecision().name << "\n";
        }
        std::map<std::string, std::string> config = {
            {"VPU_MYRIAD_PLATFORM", "VPU_MYRIAD_2480"},  // what compile_tool sets: no device needed
            {"MYRIAD_NUMBER_OF_SHAVES", shaves},
            {"MYRIAD_NUMBER_OF_CMX_SLICES", cmx},
        };
        for (auto& kv : extra) config[kv.first] = kv.second;
        auto t0 = std::chrono::steady_clock::now();
        IE::ExecutableNetwork exe = core.LoadNetwork(net, "MYRIAD", config);
        auto t1 = std::chrono::steady_clock::now();
        exe.Export(out);
        std::cout << "LoadNetwork (compile) ms: "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count() << "\n"
                  << "wrote " << out << "\n";
    } catch (const std::exception& e) {
        std::cerr << "ERROR: " << e.what() << "\n";
        std::cout.flush();
        _exit(1);
    }
    std::cout.flush();
    _exit(0);  // skip static/plugin teardown (objects above are leaked on purpose)
}
