//! The seed's JSON schema as serde types (SPEC §4.1), in `train.py`'s key order: serde writes
//! fields in declaration order, so declaring them in the seed's order reproduces its layout.

use crate::model::{CoordRange, PixelGrid};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub(super) struct FileJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<MetadataJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) model: Option<ModelJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) encoding: Option<EncodingJson>,
    pub(super) mlp: MlpJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) fourier: Option<FourierJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sample_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sample_seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) samples: Option<Vec<SampleJson>>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct MetadataJson {
    #[serde(default = "image_mode")]
    pub(super) mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) image: Option<ImageJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) coordinates: Option<CoordsJson>,
}

pub(super) fn image_mode() -> String {
    "image".into()
}

#[derive(Serialize, Deserialize)]
pub(super) struct ImageJson {
    pub(super) width: u32,
    pub(super) height: u32,
    #[serde(default)]
    pub(super) aspect_ratio: f64,
}

#[derive(Serialize, Deserialize)]
pub(super) struct CoordsJson {
    pub(super) grid: PixelGrid,
    pub(super) range: CoordRange,
}

#[derive(Serialize, Deserialize, Default)]
pub(super) struct ModelJson {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) omega0: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) omega_hidden: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) train_b: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) output_activation: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct EncodingJson {
    pub(super) num_levels: usize,
    pub(super) features_per_level: usize,
    pub(super) log2_hashmap_size: u32,
    pub(super) base_resolution: u32,
    pub(super) max_resolution: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) growth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) per_level_scale: Option<f32>,
    /// nfield: levels whose grid fits the table stored densely (absent: false, every level hashed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) dense_coarse_levels: Option<bool>,
    pub(super) hash_table: HashTableJson,
}

#[derive(Serialize, Deserialize)]
pub(super) struct HashTableJson {
    pub(super) shape: Vec<usize>,
    pub(super) data: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct LayerJson {
    pub(super) weights: Vec<Vec<f32>>,
    pub(super) biases: Vec<f32>,
}

/// `mlp` is `{"layers": [...]}`, or (Swift accepts it) a bare array of layers.
#[derive(Serialize)]
pub(super) struct MlpJson {
    pub(super) layers: Vec<LayerJson>,
}

impl<'de> Deserialize<'de> for MlpJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MlpJson;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object {\"layers\": [...]} or an array of layers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<MlpJson, A::Error> {
                let mut layers = Vec::new();
                while let Some(l) = seq.next_element::<LayerJson>()? {
                    layers.push(l);
                }
                Ok(MlpJson { layers })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<MlpJson, A::Error> {
                let mut layers = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "layers" {
                        layers = Some(map.next_value::<Vec<LayerJson>>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                layers.map(|layers| MlpJson { layers }).ok_or_else(|| serde::de::Error::missing_field("layers"))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct FourierJson {
    #[serde(rename = "B")]
    pub(super) b: Vec<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sigma: Option<f32>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct SampleJson {
    pub(super) position: Vec<f32>,
    pub(super) value: Vec<f32>,
}
