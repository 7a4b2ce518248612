// Package hfmodel reads and writes Hugging Face model directories: a
// config.json and the weights in model.safetensors, or in shards listed by
// model.safetensors.index.json.
//
// Each supported architecture is a [Family]: a reader of its config.json
// that refuses every setting the model does not implement, and a tensor
// table of [Mapping] rows (stored name and shape → a model.Tensors tensor,
// its first row, whether the stored matrix is transposed). Loading checks
// every stored tensor against the table before allocating anything: a name
// the table does not know (other than the family's buffers), a missing
// tensor, a wrong shape or a non-float dtype is one error line naming the
// file. F32, F16 and BF16 weights convert to float32 exactly.
//
// GPT-2 (model_type "gpt2": gpt2, distilgpt2, gpt2-medium/large/xl):
//
//	stored ([transformer.] prefix optional)   shape        ours          how
//	wte.weight                                (V, C)       wte           copy
//	wpe.weight                                (n_pos, C)   wpe           copy (T = n_positions)
//	h.l.ln_1.{weight,bias}                    (C)          h.l.ln1.{w,b} copy
//	h.l.attn.c_attn.weight                    (C, 3C)      h.l.attn.qkv.w (3C, C)  transpose (Conv1D [in, out])
//	h.l.attn.c_attn.bias                      (3C)         h.l.attn.qkv.b copy
//	h.l.attn.c_proj.weight                    (C, C)       h.l.attn.proj.w         transpose
//	h.l.attn.c_proj.bias                      (C)          h.l.attn.proj.b copy
//	h.l.ln_2.{weight,bias}                    (C)          h.l.ln2.{w,b} copy
//	h.l.mlp.c_fc.weight                       (C, 4C)      h.l.mlp.fc.w (4C, C)    transpose
//	h.l.mlp.c_fc.bias                         (4C)         h.l.mlp.fc.b  copy
//	h.l.mlp.c_proj.weight                     (4C, C)      h.l.mlp.proj.w (C, 4C)  transpose
//	h.l.mlp.c_proj.bias                       (C)          h.l.mlp.proj.b copy
//	ln_f.{weight,bias}                        (C)          lnf.{w,b}     copy
//	lm_head.weight                            (V, C)       lm_head.w     only when tie_word_embeddings is false
//	h.l.attn.bias, h.l.attn.masked_bias       buffers      —             skipped
//
// c_attn's output columns are q | k | v, head h at columns h·hs..(h+1)·hs of
// each third, which is the row order of our fused qkv: a transpose is the
// whole mapping. A tied checkpoint that also stores lm_head.weight must store
// wte there. config.json must have activation_function gelu_new (or
// gelu_pytorch_tanh, the same function), layer_norm_epsilon 1e-5, n_inner
// null or 4·n_embd, scale_attn_weights true, scale_attn_by_inverse_layer_idx,
// reorder_and_upcast_attn and add_cross_attention false, no pruned_heads;
// absent keys take transformers' GPT2Config defaults. Dropout rates are
// ignored (the model has no dropout).
//
// GPT-NeoX (model_type "gpt_neox": Pythia):
//
//	stored                                                shape      ours                 how
//	gpt_neox.embed_in.weight                              (V, C)     wte                  copy (V may include padding rows)
//	gpt_neox.layers.l.input_layernorm.{weight,bias}       (C)        h.l.ln1.{w,b}        copy
//	gpt_neox.layers.l.attention.query_key_value.weight    (3C, C)    h.l.attn.qkv.w       rows per head (q, k, v of head 0, head 1, …) → [q; k; v]
//	gpt_neox.layers.l.attention.query_key_value.bias      (3C)       h.l.attn.qkv.b       the same reordering
//	gpt_neox.layers.l.attention.dense.{weight,bias}       (C, C)     h.l.attn.proj.{w,b}  copy
//	gpt_neox.layers.l.post_attention_layernorm.*          (C)        h.l.ln2.{w,b}        copy
//	gpt_neox.layers.l.mlp.dense_h_to_4h.{weight,bias}     (F, C)     h.l.mlp.fc.{w,b}     copy
//	gpt_neox.layers.l.mlp.dense_4h_to_h.{weight,bias}     (C, F)     h.l.mlp.proj.{w,b}   copy
//	gpt_neox.final_layer_norm.{weight,bias}               (C)        lnf.{w,b}            copy
//	embed_out.weight                                      (V, C)     lm_head.w            unless tie_word_embeddings
//	….attention.{bias,masked_bias,rotary_emb.inv_freq}    buffers    —                    skipped
//
// config.json: hidden_act gelu (exact), rotary dims int(hs·rotary_pct) even,
// rotary_emb_base or rope_theta, layer_norm_eps, use_parallel_residual,
// attention_bias true, no rope_scaling.
//
// Llama (model_type "llama", "mistral", "qwen2": Llama 2/3, SmolLM2, Mistral, Qwen2):
//
//	stored                                          shape       ours                                  how
//	model.embed_tokens.weight                       (V, C)      wte                                   copy
//	model.layers.l.input_layernorm.weight           (C)         h.l.ln1.w                             copy
//	model.layers.l.self_attn.q_proj.{weight,bias}   (C, C)      h.l.attn.qkv.{w,b} rows 0..C          copy
//	model.layers.l.self_attn.k_proj.{weight,bias}   (KV·hs, C)  h.l.attn.qkv.{w,b} rows C..C+KV·hs    copy
//	model.layers.l.self_attn.v_proj.{weight,bias}   (KV·hs, C)  h.l.attn.qkv.{w,b} rows C+KV·hs..     copy
//	model.layers.l.self_attn.o_proj.{weight,bias}   (C, C)      h.l.attn.proj.{w,b}                   copy
//	model.layers.l.post_attention_layernorm.weight  (C)         h.l.ln2.w                             copy
//	model.layers.l.mlp.gate_proj.{weight,bias}      (F, C)      h.l.mlp.fc.{w,b} rows 0..F            copy
//	model.layers.l.mlp.up_proj.{weight,bias}        (F, C)      h.l.mlp.fc.{w,b} rows F..2F           copy
//	model.layers.l.mlp.down_proj.{weight,bias}      (C, F)      h.l.mlp.proj.{w,b}                    copy
//	model.norm.weight                               (C)         lnf.w                                 copy
//	lm_head.weight                                  (V, C)      lm_head.w                             unless tie_word_embeddings
//	….self_attn.rotary_emb.inv_freq                 buffer      —                                     skipped
//
// Biases exist for q, k, v in qwen2, for q, k, v, o with llama's
// attention_bias, for gate, up, down with mlp_bias. config.json: hidden_act
// silu, head_dim absent or hidden_size/num_attention_heads, rope_theta,
// rope_scaling absent, null or rope_type llama3, rms_norm_eps; qwen2's
// use_sliding_window false; mistral's sliding_window null or at least
// max_position_embeddings.
//
// A new family is a Family value: its config reader and table, provided the
// model implements its block (model.Block).
//
// [Write] is the inverse: config.json and model.safetensors in the family's
// names and layout, loadable by transformers' from_pretrained unchanged.
package hfmodel
