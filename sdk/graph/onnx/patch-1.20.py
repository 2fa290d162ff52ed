#!/usr/bin/env python3
"""Bring Debian's ONNX 1.12.0 onnx.proto up to the ONNX 1.20 schema.

Input:  onnx-1.12.0.proto (verbatim from Debian python3-onnx 1.12.0-2, /usr/lib/python3/dist-packages/onnx/onnx.proto)
Output: onnx.proto

Every field added upstream between 1.12 and 1.20 is inserted with its upstream number and type
(checked against the FileDescriptorProto of ONNX 1.20, see README.md). Run: python3 patch-1.20.py
"""
import pathlib, sys

here = pathlib.Path(__file__).parent
src = (here / "onnx-1.12.0.proto").read_text()

def sub(old: str, new: str) -> None:
    global src
    if src.count(old) != 1:
        sys.exit(f"patch anchor not found exactly once: {old!r}")
    src = src.replace(old, new)

sub("""  IR_VERSION = 0x0000000000000008;
""", """  IR_VERSION_2021_7_30 = 0x0000000000000008;

  // IR VERSION 9 (ONNX 1.14): float 8 types.
  IR_VERSION_2023_5_5 = 0x0000000000000009;

  // IR VERSION 10 (ONNX 1.16): uint4/int4, function overloads, FunctionProto.value_info, metadata_props.
  IR_VERSION_2024_3_25 = 0x000000000000000A;

  // IR VERSION 11 (ONNX 1.18): float4e2m1, multi-device configuration.
  IR_VERSION_2025_05_12 = 0x000000000000000B;

  // IR VERSION 12 (ONNX 1.19): float8e8m0.
  IR_VERSION_2025_08_26 = 0x000000000000000C;

  // IR VERSION 13 (ONNX 1.20): uint2/int2.
  IR_VERSION = 0x000000000000000D;
""")

sub("""  // A human-readable documentation for this value. Markdown is allowed.
  optional string doc_string = 3;
}
""", """  // A human-readable documentation for this value. Markdown is allowed.
  optional string doc_string = 3;

  // Named metadata values; keys should be distinct.
  repeated StringStringEntryProto metadata_props = 4;
}
""")

sub("""  // A human-readable documentation for this node. Markdown is allowed.
  optional string doc_string = 6;
}
""", """  // A human-readable documentation for this node. Markdown is allowed.
  optional string doc_string = 6;

  // Overload identifier, used only to map this to a model-local function.
  optional string overload = 8;

  // Named metadata values; keys should be distinct.
  repeated StringStringEntryProto metadata_props = 9;

  // Configuration of multi-device annotations.
  repeated NodeDeviceConfigurationProto device_configurations = 10;
}

// IntIntListEntryProto follows the pattern for cross-proto-version maps.
message IntIntListEntryProto {
  optional int64 key = 1;
  repeated int64 value = 2;
};

// Multi-device configuration proto for NodeProto.
message NodeDeviceConfigurationProto {
  // ID of the configuration. MUST match the name of a DeviceConfigurationProto.
  optional string configuration_id = 1;
  // Sharding spec for the node.
  repeated ShardingSpecProto sharding_spec = 2;
  // Pipeline stage of this node.
  optional int32 pipeline_stage = 3;
}

// ShardingSpecProto: This describes the sharding spec for a specific
// input or output tensor of a node.
message ShardingSpecProto {
  optional string tensor_name = 1;
  repeated int64 device = 2;
  repeated IntIntListEntryProto index_to_device_group_map = 3;
  repeated ShardedDimProto sharded_dim = 4;
}

// ShardedDimProto: This describes the sharding spec for a single axis of a sharded tensor.
message ShardedDimProto {
  optional int64 axis = 1;
  repeated SimpleShardedDimProto simple_sharding = 2;
}

// SimpleShardedDimProto: Indicates that N blocks are divided into M shards.
message SimpleShardedDimProto {
  oneof dim {
    int64 dim_value = 1;
    string dim_param = 2;
  }
  optional int64 num_shards = 3;
}
""")

sub("""  repeated StringStringEntryProto metadata_props = 14;

  // Training-specific information.""", """  repeated StringStringEntryProto metadata_props = 14;

  // Describes different target configurations for a multi-device use case.
  repeated DeviceConfigurationProto configuration = 26;

  // Training-specific information.""")

sub("""message StringStringEntryProto {""", """// DeviceConfigurationProto describes a multi-device configuration for a model.
message DeviceConfigurationProto {
  optional string name = 1;
  optional int32 num_devices = 2;
  repeated string device = 3;
}

message StringStringEntryProto {""")

sub("""  repeated TensorAnnotation quantization_annotation = 14;
""", """  repeated TensorAnnotation quantization_annotation = 14;

  // Named metadata values; keys should be distinct.
  repeated StringStringEntryProto metadata_props = 16;
""")

sub("""    BFLOAT16 = 16;
""", """    BFLOAT16 = 16;

    // Non-IEEE floating-point formats (IR 9).
    FLOAT8E4M3FN = 17;
    FLOAT8E4M3FNUZ = 18;
    FLOAT8E5M2 = 19;
    FLOAT8E5M2FNUZ = 20;

    // 4-bit integer data types (IR 10).
    UINT4 = 21;
    INT4 = 22;

    // 4-bit floating point data type (IR 11).
    FLOAT4E2M1 = 23;

    // E8M0 type used as the scale of microscaling formats (IR 12).
    FLOAT8E8M0 = 24;

    // 2-bit integer data types (IR 13).
    UINT2 = 25;
    INT2 = 26;
""")

sub("""  // The attributes of the function.
  repeated string attribute = 6;
""", """  // The attribute parameters of the function.
  // It is for function parameters without default values.
  repeated string attribute = 6;

  // The attribute protos of the function.
  // It is for function attributes with default values.
  // A function attribute shall be represented either as
  // a string attribute or an AttributeProto, not both.
  repeated AttributeProto attribute_proto = 11;
""")

sub("""  optional string domain = 10;
}
""", """  optional string domain = 10;

  // The overload identifier of the function.
  // This is part of the unique-id (domain, name, overload)
  optional string overload = 13;

  // Information for the values in the function. The ValueInfoProto.name's
  // must be distinct and refer to names in the function (including inputs,
  // outputs, and intermediate values).
  repeated ValueInfoProto value_info = 12;

  // Named metadata values; keys should be distinct.
  repeated StringStringEntryProto metadata_props = 14;
}
""")

sub("""  repeated uint64 uint64_data = 11 [packed = true];
}
""", """  repeated uint64 uint64_data = 11 [packed = true];

  // Named metadata values; keys should be distinct.
  repeated StringStringEntryProto metadata_props = 16;
}
""")

(here / "onnx.proto").write_text(src)
print("wrote onnx.proto")
