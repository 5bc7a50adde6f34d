"""The one instruction table of WebAssembly 2.0 (spec 5.4 and the index of instructions).

Every instruction is defined once here: its text name, its binary opcode (a byte, or a prefix
byte ``0xFC``/``0xFD`` followed by a u32 sub-opcode), the kind of immediates it takes, and its
stack signature.  The binary decoder and encoder, the text parser and printer, the validator
and both execution tiers are all driven by this table.

Immediate kinds (and the Python values they decode to, in order, after the ``Op``):

=============  ==========================================================
``-``          none
blocktype      ``None`` (empty), a value type string, or a type index int
labelidx       label depth
br_table       tuple of label depths, default label depth
funcidx        function index
call_indirect  type index, table index
localidx       local index
globalidx      global index
tableidx       table index
memidx         memory index (a reserved zero byte in 2.0)
memarg         alignment exponent, offset, then the memory index if not 0 (multi-memory)
memarg_lane    alignment exponent, offset, lane index, then the memory index if not 0
laneidx        lane index
i32 / i64      the constant as a *signed* integer
f32 / f64      the constant's IEEE-754 bit pattern as an unsigned int (keeps NaN payloads)
v128           the constant as an unsigned 128-bit int, lane 0 in the low bits
shuffle        tuple of 16 lane indices
heaptype       a reference type string (``"funcref"`` / ``"externref"``)
valtypes       tuple of value types (typed ``select``)
dataidx        data segment index
elemidx        element segment index
memory.init    data index, memory index
memory.copy    destination memory index, source memory index
table.init     element index, table index
table.copy     destination table index, source table index
typeidx        type index (``call_ref``, ``return_call_ref``)
tagidx         tag index (exception handling)
zero           none in the text format, a reserved zero byte in the binary (``atomic.fence``)
try_table      block type, tuple of catch clauses ``(kind, tagidx or None, labelidx)``
               with kind CATCH, CATCH_REF, CATCH_ALL or CATCH_ALL_REF (the binary codes)
typeidx_field  type index, field index (GC ``struct.get``/``set``)
typeidx_n      type index, element count (``array.new_fixed``)
typeidx_data   type index, data index (``array.new_data``/``init_data``)
typeidx_elem   type index, element index (``array.new_elem``/``init_elem``)
typeidx_pair   destination type index, source type index (``array.copy``)
castref        the target reference type (``ref.test``/``ref.cast``; the opcode says
               whether it is nullable)
br_on_cast     label depth, source reference type, target reference type
=============  ==========================================================

``heaptype`` decodes to the reference type ``ref.null`` pushes: ``"funcref"`` /
``"externref"`` for the 2.0 heap types, ``"(ref null 3)"`` for a type index (see
:func:`wasmforge.types.ref_type`).

The signature column reads ``params : results``; ``*`` marks the instructions whose typing
depends on context (control, variables, references, tables, ``drop``/``select``), which the
validator types by hand.
"""

from __future__ import annotations

# name                             opcode  immediates     signature
_TABLE = """
unreachable                        00      -              *
nop                                01      -              - : -
block                              02      blocktype      *
loop                               03      blocktype      *
if                                 04      blocktype      *
else                               05      -              *
end                                0B      -              *
br                                 0C      labelidx       *
br_if                              0D      labelidx       *
br_table                           0E      br_table       *
return                             0F      -              *
call                               10      funcidx        *
call_indirect                      11      call_indirect  *
drop                               1A      -              *
select                             1B      -              *
select                             1C      valtypes       *
local.get                          20      localidx       *
local.set                          21      localidx       *
local.tee                          22      localidx       *
global.get                         23      globalidx      *
global.set                         24      globalidx      *
table.get                          25      tableidx       *
table.set                          26      tableidx       *
i32.load                           28      memarg         i32 : i32
i64.load                           29      memarg         i32 : i64
f32.load                           2A      memarg         i32 : f32
f64.load                           2B      memarg         i32 : f64
i32.load8_s                        2C      memarg         i32 : i32
i32.load8_u                        2D      memarg         i32 : i32
i32.load16_s                       2E      memarg         i32 : i32
i32.load16_u                       2F      memarg         i32 : i32
i64.load8_s                        30      memarg         i32 : i64
i64.load8_u                        31      memarg         i32 : i64
i64.load16_s                       32      memarg         i32 : i64
i64.load16_u                       33      memarg         i32 : i64
i64.load32_s                       34      memarg         i32 : i64
i64.load32_u                       35      memarg         i32 : i64
i32.store                          36      memarg         i32 i32 : -
i64.store                          37      memarg         i32 i64 : -
f32.store                          38      memarg         i32 f32 : -
f64.store                          39      memarg         i32 f64 : -
i32.store8                         3A      memarg         i32 i32 : -
i32.store16                        3B      memarg         i32 i32 : -
i64.store8                         3C      memarg         i32 i64 : -
i64.store16                        3D      memarg         i32 i64 : -
i64.store32                        3E      memarg         i32 i64 : -
memory.size                        3F      memidx         - : i32
memory.grow                        40      memidx         i32 : i32
i32.const                          41      i32            - : i32
i64.const                          42      i64            - : i64
f32.const                          43      f32            - : f32
f64.const                          44      f64            - : f64
i32.eqz                            45      -              i32 : i32
i32.eq                             46      -              i32 i32 : i32
i32.ne                             47      -              i32 i32 : i32
i32.lt_s                           48      -              i32 i32 : i32
i32.lt_u                           49      -              i32 i32 : i32
i32.gt_s                           4A      -              i32 i32 : i32
i32.gt_u                           4B      -              i32 i32 : i32
i32.le_s                           4C      -              i32 i32 : i32
i32.le_u                           4D      -              i32 i32 : i32
i32.ge_s                           4E      -              i32 i32 : i32
i32.ge_u                           4F      -              i32 i32 : i32
i64.eqz                            50      -              i64 : i32
i64.eq                             51      -              i64 i64 : i32
i64.ne                             52      -              i64 i64 : i32
i64.lt_s                           53      -              i64 i64 : i32
i64.lt_u                           54      -              i64 i64 : i32
i64.gt_s                           55      -              i64 i64 : i32
i64.gt_u                           56      -              i64 i64 : i32
i64.le_s                           57      -              i64 i64 : i32
i64.le_u                           58      -              i64 i64 : i32
i64.ge_s                           59      -              i64 i64 : i32
i64.ge_u                           5A      -              i64 i64 : i32
f32.eq                             5B      -              f32 f32 : i32
f32.ne                             5C      -              f32 f32 : i32
f32.lt                             5D      -              f32 f32 : i32
f32.gt                             5E      -              f32 f32 : i32
f32.le                             5F      -              f32 f32 : i32
f32.ge                             60      -              f32 f32 : i32
f64.eq                             61      -              f64 f64 : i32
f64.ne                             62      -              f64 f64 : i32
f64.lt                             63      -              f64 f64 : i32
f64.gt                             64      -              f64 f64 : i32
f64.le                             65      -              f64 f64 : i32
f64.ge                             66      -              f64 f64 : i32
i32.clz                            67      -              i32 : i32
i32.ctz                            68      -              i32 : i32
i32.popcnt                         69      -              i32 : i32
i32.add                            6A      -              i32 i32 : i32
i32.sub                            6B      -              i32 i32 : i32
i32.mul                            6C      -              i32 i32 : i32
i32.div_s                          6D      -              i32 i32 : i32
i32.div_u                          6E      -              i32 i32 : i32
i32.rem_s                          6F      -              i32 i32 : i32
i32.rem_u                          70      -              i32 i32 : i32
i32.and                            71      -              i32 i32 : i32
i32.or                             72      -              i32 i32 : i32
i32.xor                            73      -              i32 i32 : i32
i32.shl                            74      -              i32 i32 : i32
i32.shr_s                          75      -              i32 i32 : i32
i32.shr_u                          76      -              i32 i32 : i32
i32.rotl                           77      -              i32 i32 : i32
i32.rotr                           78      -              i32 i32 : i32
i64.clz                            79      -              i64 : i64
i64.ctz                            7A      -              i64 : i64
i64.popcnt                         7B      -              i64 : i64
i64.add                            7C      -              i64 i64 : i64
i64.sub                            7D      -              i64 i64 : i64
i64.mul                            7E      -              i64 i64 : i64
i64.div_s                          7F      -              i64 i64 : i64
i64.div_u                          80      -              i64 i64 : i64
i64.rem_s                          81      -              i64 i64 : i64
i64.rem_u                          82      -              i64 i64 : i64
i64.and                            83      -              i64 i64 : i64
i64.or                             84      -              i64 i64 : i64
i64.xor                            85      -              i64 i64 : i64
i64.shl                            86      -              i64 i64 : i64
i64.shr_s                          87      -              i64 i64 : i64
i64.shr_u                          88      -              i64 i64 : i64
i64.rotl                           89      -              i64 i64 : i64
i64.rotr                           8A      -              i64 i64 : i64
f32.abs                            8B      -              f32 : f32
f32.neg                            8C      -              f32 : f32
f32.ceil                           8D      -              f32 : f32
f32.floor                          8E      -              f32 : f32
f32.trunc                          8F      -              f32 : f32
f32.nearest                        90      -              f32 : f32
f32.sqrt                           91      -              f32 : f32
f32.add                            92      -              f32 f32 : f32
f32.sub                            93      -              f32 f32 : f32
f32.mul                            94      -              f32 f32 : f32
f32.div                            95      -              f32 f32 : f32
f32.min                            96      -              f32 f32 : f32
f32.max                            97      -              f32 f32 : f32
f32.copysign                       98      -              f32 f32 : f32
f64.abs                            99      -              f64 : f64
f64.neg                            9A      -              f64 : f64
f64.ceil                           9B      -              f64 : f64
f64.floor                          9C      -              f64 : f64
f64.trunc                          9D      -              f64 : f64
f64.nearest                        9E      -              f64 : f64
f64.sqrt                           9F      -              f64 : f64
f64.add                            A0      -              f64 f64 : f64
f64.sub                            A1      -              f64 f64 : f64
f64.mul                            A2      -              f64 f64 : f64
f64.div                            A3      -              f64 f64 : f64
f64.min                            A4      -              f64 f64 : f64
f64.max                            A5      -              f64 f64 : f64
f64.copysign                       A6      -              f64 f64 : f64
i32.wrap_i64                       A7      -              i64 : i32
i32.trunc_f32_s                    A8      -              f32 : i32
i32.trunc_f32_u                    A9      -              f32 : i32
i32.trunc_f64_s                    AA      -              f64 : i32
i32.trunc_f64_u                    AB      -              f64 : i32
i64.extend_i32_s                   AC      -              i32 : i64
i64.extend_i32_u                   AD      -              i32 : i64
i64.trunc_f32_s                    AE      -              f32 : i64
i64.trunc_f32_u                    AF      -              f32 : i64
i64.trunc_f64_s                    B0      -              f64 : i64
i64.trunc_f64_u                    B1      -              f64 : i64
f32.convert_i32_s                  B2      -              i32 : f32
f32.convert_i32_u                  B3      -              i32 : f32
f32.convert_i64_s                  B4      -              i64 : f32
f32.convert_i64_u                  B5      -              i64 : f32
f32.demote_f64                     B6      -              f64 : f32
f64.convert_i32_s                  B7      -              i32 : f64
f64.convert_i32_u                  B8      -              i32 : f64
f64.convert_i64_s                  B9      -              i64 : f64
f64.convert_i64_u                  BA      -              i64 : f64
f64.promote_f32                    BB      -              f32 : f64
i32.reinterpret_f32                BC      -              f32 : i32
i64.reinterpret_f64                BD      -              f64 : i64
f32.reinterpret_i32                BE      -              i32 : f32
f64.reinterpret_i64                BF      -              i64 : f64
i32.extend8_s                      C0      -              i32 : i32
i32.extend16_s                     C1      -              i32 : i32
i64.extend8_s                      C2      -              i64 : i64
i64.extend16_s                     C3      -              i64 : i64
i64.extend32_s                     C4      -              i64 : i64
ref.null                           D0      heaptype       *
ref.is_null                        D1      -              *
ref.func                           D2      funcidx        *
i32.trunc_sat_f32_s                FC:0    -              f32 : i32
i32.trunc_sat_f32_u                FC:1    -              f32 : i32
i32.trunc_sat_f64_s                FC:2    -              f64 : i32
i32.trunc_sat_f64_u                FC:3    -              f64 : i32
i64.trunc_sat_f32_s                FC:4    -              f32 : i64
i64.trunc_sat_f32_u                FC:5    -              f32 : i64
i64.trunc_sat_f64_s                FC:6    -              f64 : i64
i64.trunc_sat_f64_u                FC:7    -              f64 : i64
memory.init                        FC:8    memory.init    *
data.drop                          FC:9    dataidx        *
memory.copy                        FC:10   memory.copy    i32 i32 i32 : -
memory.fill                        FC:11   memidx         i32 i32 i32 : -
table.init                         FC:12   table.init     *
elem.drop                          FC:13   elemidx        *
table.copy                         FC:14   table.copy     *
table.grow                         FC:15   tableidx       *
table.size                         FC:16   tableidx       *
table.fill                         FC:17   tableidx       *
v128.load                          FD:0    memarg         i32 : v128
v128.load8x8_s                     FD:1    memarg         i32 : v128
v128.load8x8_u                     FD:2    memarg         i32 : v128
v128.load16x4_s                    FD:3    memarg         i32 : v128
v128.load16x4_u                    FD:4    memarg         i32 : v128
v128.load32x2_s                    FD:5    memarg         i32 : v128
v128.load32x2_u                    FD:6    memarg         i32 : v128
v128.load8_splat                   FD:7    memarg         i32 : v128
v128.load16_splat                  FD:8    memarg         i32 : v128
v128.load32_splat                  FD:9    memarg         i32 : v128
v128.load64_splat                  FD:10   memarg         i32 : v128
v128.store                         FD:11   memarg         i32 v128 : -
v128.const                         FD:12   v128           - : v128
i8x16.shuffle                      FD:13   shuffle        v128 v128 : v128
i8x16.swizzle                      FD:14   -              v128 v128 : v128
i8x16.splat                        FD:15   -              i32 : v128
i16x8.splat                        FD:16   -              i32 : v128
i32x4.splat                        FD:17   -              i32 : v128
i64x2.splat                        FD:18   -              i64 : v128
f32x4.splat                        FD:19   -              f32 : v128
f64x2.splat                        FD:20   -              f64 : v128
i8x16.extract_lane_s               FD:21   laneidx        v128 : i32
i8x16.extract_lane_u               FD:22   laneidx        v128 : i32
i8x16.replace_lane                 FD:23   laneidx        v128 i32 : v128
i16x8.extract_lane_s               FD:24   laneidx        v128 : i32
i16x8.extract_lane_u               FD:25   laneidx        v128 : i32
i16x8.replace_lane                 FD:26   laneidx        v128 i32 : v128
i32x4.extract_lane                 FD:27   laneidx        v128 : i32
i32x4.replace_lane                 FD:28   laneidx        v128 i32 : v128
i64x2.extract_lane                 FD:29   laneidx        v128 : i64
i64x2.replace_lane                 FD:30   laneidx        v128 i64 : v128
f32x4.extract_lane                 FD:31   laneidx        v128 : f32
f32x4.replace_lane                 FD:32   laneidx        v128 f32 : v128
f64x2.extract_lane                 FD:33   laneidx        v128 : f64
f64x2.replace_lane                 FD:34   laneidx        v128 f64 : v128
i8x16.eq                           FD:35   -              v128 v128 : v128
i8x16.ne                           FD:36   -              v128 v128 : v128
i8x16.lt_s                         FD:37   -              v128 v128 : v128
i8x16.lt_u                         FD:38   -              v128 v128 : v128
i8x16.gt_s                         FD:39   -              v128 v128 : v128
i8x16.gt_u                         FD:40   -              v128 v128 : v128
i8x16.le_s                         FD:41   -              v128 v128 : v128
i8x16.le_u                         FD:42   -              v128 v128 : v128
i8x16.ge_s                         FD:43   -              v128 v128 : v128
i8x16.ge_u                         FD:44   -              v128 v128 : v128
i16x8.eq                           FD:45   -              v128 v128 : v128
i16x8.ne                           FD:46   -              v128 v128 : v128
i16x8.lt_s                         FD:47   -              v128 v128 : v128
i16x8.lt_u                         FD:48   -              v128 v128 : v128
i16x8.gt_s                         FD:49   -              v128 v128 : v128
i16x8.gt_u                         FD:50   -              v128 v128 : v128
i16x8.le_s                         FD:51   -              v128 v128 : v128
i16x8.le_u                         FD:52   -              v128 v128 : v128
i16x8.ge_s                         FD:53   -              v128 v128 : v128
i16x8.ge_u                         FD:54   -              v128 v128 : v128
i32x4.eq                           FD:55   -              v128 v128 : v128
i32x4.ne                           FD:56   -              v128 v128 : v128
i32x4.lt_s                         FD:57   -              v128 v128 : v128
i32x4.lt_u                         FD:58   -              v128 v128 : v128
i32x4.gt_s                         FD:59   -              v128 v128 : v128
i32x4.gt_u                         FD:60   -              v128 v128 : v128
i32x4.le_s                         FD:61   -              v128 v128 : v128
i32x4.le_u                         FD:62   -              v128 v128 : v128
i32x4.ge_s                         FD:63   -              v128 v128 : v128
i32x4.ge_u                         FD:64   -              v128 v128 : v128
f32x4.eq                           FD:65   -              v128 v128 : v128
f32x4.ne                           FD:66   -              v128 v128 : v128
f32x4.lt                           FD:67   -              v128 v128 : v128
f32x4.gt                           FD:68   -              v128 v128 : v128
f32x4.le                           FD:69   -              v128 v128 : v128
f32x4.ge                           FD:70   -              v128 v128 : v128
f64x2.eq                           FD:71   -              v128 v128 : v128
f64x2.ne                           FD:72   -              v128 v128 : v128
f64x2.lt                           FD:73   -              v128 v128 : v128
f64x2.gt                           FD:74   -              v128 v128 : v128
f64x2.le                           FD:75   -              v128 v128 : v128
f64x2.ge                           FD:76   -              v128 v128 : v128
v128.not                           FD:77   -              v128 : v128
v128.and                           FD:78   -              v128 v128 : v128
v128.andnot                        FD:79   -              v128 v128 : v128
v128.or                            FD:80   -              v128 v128 : v128
v128.xor                           FD:81   -              v128 v128 : v128
v128.bitselect                     FD:82   -              v128 v128 v128 : v128
v128.any_true                      FD:83   -              v128 : i32
v128.load8_lane                    FD:84   memarg_lane    i32 v128 : v128
v128.load16_lane                   FD:85   memarg_lane    i32 v128 : v128
v128.load32_lane                   FD:86   memarg_lane    i32 v128 : v128
v128.load64_lane                   FD:87   memarg_lane    i32 v128 : v128
v128.store8_lane                   FD:88   memarg_lane    i32 v128 : -
v128.store16_lane                  FD:89   memarg_lane    i32 v128 : -
v128.store32_lane                  FD:90   memarg_lane    i32 v128 : -
v128.store64_lane                  FD:91   memarg_lane    i32 v128 : -
v128.load32_zero                   FD:92   memarg         i32 : v128
v128.load64_zero                   FD:93   memarg         i32 : v128
f32x4.demote_f64x2_zero            FD:94   -              v128 : v128
f64x2.promote_low_f32x4            FD:95   -              v128 : v128
i8x16.abs                          FD:96   -              v128 : v128
i8x16.neg                          FD:97   -              v128 : v128
i8x16.popcnt                       FD:98   -              v128 : v128
i8x16.all_true                     FD:99   -              v128 : i32
i8x16.bitmask                      FD:100  -              v128 : i32
i8x16.narrow_i16x8_s               FD:101  -              v128 v128 : v128
i8x16.narrow_i16x8_u               FD:102  -              v128 v128 : v128
f32x4.ceil                         FD:103  -              v128 : v128
f32x4.floor                        FD:104  -              v128 : v128
f32x4.trunc                        FD:105  -              v128 : v128
f32x4.nearest                      FD:106  -              v128 : v128
i8x16.shl                          FD:107  -              v128 i32 : v128
i8x16.shr_s                        FD:108  -              v128 i32 : v128
i8x16.shr_u                        FD:109  -              v128 i32 : v128
i8x16.add                          FD:110  -              v128 v128 : v128
i8x16.add_sat_s                    FD:111  -              v128 v128 : v128
i8x16.add_sat_u                    FD:112  -              v128 v128 : v128
i8x16.sub                          FD:113  -              v128 v128 : v128
i8x16.sub_sat_s                    FD:114  -              v128 v128 : v128
i8x16.sub_sat_u                    FD:115  -              v128 v128 : v128
f64x2.ceil                         FD:116  -              v128 : v128
f64x2.floor                        FD:117  -              v128 : v128
i8x16.min_s                        FD:118  -              v128 v128 : v128
i8x16.min_u                        FD:119  -              v128 v128 : v128
i8x16.max_s                        FD:120  -              v128 v128 : v128
i8x16.max_u                        FD:121  -              v128 v128 : v128
f64x2.trunc                        FD:122  -              v128 : v128
i8x16.avgr_u                       FD:123  -              v128 v128 : v128
i16x8.extadd_pairwise_i8x16_s      FD:124  -              v128 : v128
i16x8.extadd_pairwise_i8x16_u      FD:125  -              v128 : v128
i32x4.extadd_pairwise_i16x8_s      FD:126  -              v128 : v128
i32x4.extadd_pairwise_i16x8_u      FD:127  -              v128 : v128
i16x8.abs                          FD:128  -              v128 : v128
i16x8.neg                          FD:129  -              v128 : v128
i16x8.q15mulr_sat_s                FD:130  -              v128 v128 : v128
i16x8.all_true                     FD:131  -              v128 : i32
i16x8.bitmask                      FD:132  -              v128 : i32
i16x8.narrow_i32x4_s               FD:133  -              v128 v128 : v128
i16x8.narrow_i32x4_u               FD:134  -              v128 v128 : v128
i16x8.extend_low_i8x16_s           FD:135  -              v128 : v128
i16x8.extend_high_i8x16_s          FD:136  -              v128 : v128
i16x8.extend_low_i8x16_u           FD:137  -              v128 : v128
i16x8.extend_high_i8x16_u          FD:138  -              v128 : v128
i16x8.shl                          FD:139  -              v128 i32 : v128
i16x8.shr_s                        FD:140  -              v128 i32 : v128
i16x8.shr_u                        FD:141  -              v128 i32 : v128
i16x8.add                          FD:142  -              v128 v128 : v128
i16x8.add_sat_s                    FD:143  -              v128 v128 : v128
i16x8.add_sat_u                    FD:144  -              v128 v128 : v128
i16x8.sub                          FD:145  -              v128 v128 : v128
i16x8.sub_sat_s                    FD:146  -              v128 v128 : v128
i16x8.sub_sat_u                    FD:147  -              v128 v128 : v128
f64x2.nearest                      FD:148  -              v128 : v128
i16x8.mul                          FD:149  -              v128 v128 : v128
i16x8.min_s                        FD:150  -              v128 v128 : v128
i16x8.min_u                        FD:151  -              v128 v128 : v128
i16x8.max_s                        FD:152  -              v128 v128 : v128
i16x8.max_u                        FD:153  -              v128 v128 : v128
i16x8.avgr_u                       FD:155  -              v128 v128 : v128
i16x8.extmul_low_i8x16_s           FD:156  -              v128 v128 : v128
i16x8.extmul_high_i8x16_s          FD:157  -              v128 v128 : v128
i16x8.extmul_low_i8x16_u           FD:158  -              v128 v128 : v128
i16x8.extmul_high_i8x16_u          FD:159  -              v128 v128 : v128
i32x4.abs                          FD:160  -              v128 : v128
i32x4.neg                          FD:161  -              v128 : v128
i32x4.all_true                     FD:163  -              v128 : i32
i32x4.bitmask                      FD:164  -              v128 : i32
i32x4.extend_low_i16x8_s           FD:167  -              v128 : v128
i32x4.extend_high_i16x8_s          FD:168  -              v128 : v128
i32x4.extend_low_i16x8_u           FD:169  -              v128 : v128
i32x4.extend_high_i16x8_u          FD:170  -              v128 : v128
i32x4.shl                          FD:171  -              v128 i32 : v128
i32x4.shr_s                        FD:172  -              v128 i32 : v128
i32x4.shr_u                        FD:173  -              v128 i32 : v128
i32x4.add                          FD:174  -              v128 v128 : v128
i32x4.sub                          FD:177  -              v128 v128 : v128
i32x4.mul                          FD:181  -              v128 v128 : v128
i32x4.min_s                        FD:182  -              v128 v128 : v128
i32x4.min_u                        FD:183  -              v128 v128 : v128
i32x4.max_s                        FD:184  -              v128 v128 : v128
i32x4.max_u                        FD:185  -              v128 v128 : v128
i32x4.dot_i16x8_s                  FD:186  -              v128 v128 : v128
i32x4.extmul_low_i16x8_s           FD:188  -              v128 v128 : v128
i32x4.extmul_high_i16x8_s          FD:189  -              v128 v128 : v128
i32x4.extmul_low_i16x8_u           FD:190  -              v128 v128 : v128
i32x4.extmul_high_i16x8_u          FD:191  -              v128 v128 : v128
i64x2.abs                          FD:192  -              v128 : v128
i64x2.neg                          FD:193  -              v128 : v128
i64x2.all_true                     FD:195  -              v128 : i32
i64x2.bitmask                      FD:196  -              v128 : i32
i64x2.extend_low_i32x4_s           FD:199  -              v128 : v128
i64x2.extend_high_i32x4_s          FD:200  -              v128 : v128
i64x2.extend_low_i32x4_u           FD:201  -              v128 : v128
i64x2.extend_high_i32x4_u          FD:202  -              v128 : v128
i64x2.shl                          FD:203  -              v128 i32 : v128
i64x2.shr_s                        FD:204  -              v128 i32 : v128
i64x2.shr_u                        FD:205  -              v128 i32 : v128
i64x2.add                          FD:206  -              v128 v128 : v128
i64x2.sub                          FD:209  -              v128 v128 : v128
i64x2.mul                          FD:213  -              v128 v128 : v128
i64x2.eq                           FD:214  -              v128 v128 : v128
i64x2.ne                           FD:215  -              v128 v128 : v128
i64x2.lt_s                         FD:216  -              v128 v128 : v128
i64x2.gt_s                         FD:217  -              v128 v128 : v128
i64x2.le_s                         FD:218  -              v128 v128 : v128
i64x2.ge_s                         FD:219  -              v128 v128 : v128
i64x2.extmul_low_i32x4_s           FD:220  -              v128 v128 : v128
i64x2.extmul_high_i32x4_s          FD:221  -              v128 v128 : v128
i64x2.extmul_low_i32x4_u           FD:222  -              v128 v128 : v128
i64x2.extmul_high_i32x4_u          FD:223  -              v128 v128 : v128
f32x4.abs                          FD:224  -              v128 : v128
f32x4.neg                          FD:225  -              v128 : v128
f32x4.sqrt                         FD:227  -              v128 : v128
f32x4.add                          FD:228  -              v128 v128 : v128
f32x4.sub                          FD:229  -              v128 v128 : v128
f32x4.mul                          FD:230  -              v128 v128 : v128
f32x4.div                          FD:231  -              v128 v128 : v128
f32x4.min                          FD:232  -              v128 v128 : v128
f32x4.max                          FD:233  -              v128 v128 : v128
f32x4.pmin                         FD:234  -              v128 v128 : v128
f32x4.pmax                         FD:235  -              v128 v128 : v128
f64x2.abs                          FD:236  -              v128 : v128
f64x2.neg                          FD:237  -              v128 : v128
f64x2.sqrt                         FD:239  -              v128 : v128
f64x2.add                          FD:240  -              v128 v128 : v128
f64x2.sub                          FD:241  -              v128 v128 : v128
f64x2.mul                          FD:242  -              v128 v128 : v128
f64x2.div                          FD:243  -              v128 v128 : v128
f64x2.min                          FD:244  -              v128 v128 : v128
f64x2.max                          FD:245  -              v128 v128 : v128
f64x2.pmin                         FD:246  -              v128 v128 : v128
f64x2.pmax                         FD:247  -              v128 v128 : v128
i32x4.trunc_sat_f32x4_s            FD:248  -              v128 : v128
i32x4.trunc_sat_f32x4_u            FD:249  -              v128 : v128
f32x4.convert_i32x4_s              FD:250  -              v128 : v128
f32x4.convert_i32x4_u              FD:251  -              v128 : v128
i32x4.trunc_sat_f64x2_s_zero       FD:252  -              v128 : v128
i32x4.trunc_sat_f64x2_u_zero       FD:253  -              v128 : v128
f64x2.convert_low_i32x4_s          FD:254  -              v128 : v128
f64x2.convert_low_i32x4_u          FD:255  -              v128 : v128
"""

# Instructions of the proposals beyond 2.0, one block per proposal: a ``[name]`` line (the
# proposal's name in wasmforge.features) gives the ``feature`` of the rows that follow it.
_TABLE += """
[tail-call]
return_call                        12      funcidx        *
return_call_indirect               13      call_indirect  *
[relaxed-simd]
i8x16.relaxed_swizzle              FD:256  -              v128 v128 : v128
i32x4.relaxed_trunc_f32x4_s        FD:257  -              v128 : v128
i32x4.relaxed_trunc_f32x4_u        FD:258  -              v128 : v128
i32x4.relaxed_trunc_f64x2_s_zero   FD:259  -              v128 : v128
i32x4.relaxed_trunc_f64x2_u_zero   FD:260  -              v128 : v128
f32x4.relaxed_madd                 FD:261  -              v128 v128 v128 : v128
f32x4.relaxed_nmadd                FD:262  -              v128 v128 v128 : v128
f64x2.relaxed_madd                 FD:263  -              v128 v128 v128 : v128
f64x2.relaxed_nmadd                FD:264  -              v128 v128 v128 : v128
i8x16.relaxed_laneselect           FD:265  -              v128 v128 v128 : v128
i16x8.relaxed_laneselect           FD:266  -              v128 v128 v128 : v128
i32x4.relaxed_laneselect           FD:267  -              v128 v128 v128 : v128
i64x2.relaxed_laneselect           FD:268  -              v128 v128 v128 : v128
f32x4.relaxed_min                  FD:269  -              v128 v128 : v128
f32x4.relaxed_max                  FD:270  -              v128 v128 : v128
f64x2.relaxed_min                  FD:271  -              v128 v128 : v128
f64x2.relaxed_max                  FD:272  -              v128 v128 : v128
i16x8.relaxed_q15mulr_s            FD:273  -              v128 v128 : v128
i16x8.relaxed_dot_i8x16_i7x16_s    FD:274  -              v128 v128 : v128
i32x4.relaxed_dot_i8x16_i7x16_add_s FD:275  -             v128 v128 v128 : v128

[function-references]
call_ref                           14      typeidx        *
return_call_ref                    15      typeidx        *
ref.as_non_null                    D4      -              *
br_on_null                         D5      labelidx       *
br_on_non_null                     D6      labelidx       *
"""

# Exception handling: the standard instructions (try_table, throw, throw_ref) and the legacy
# ones older toolchains still emit (try with catch/catch_all arms ended by end or delegate,
# rethrow).
_TABLE += """
[exceptions]
try                                06      blocktype      *
catch                              07      tagidx         *
throw                              08      tagidx         *
rethrow                            09      labelidx       *
throw_ref                          0A      -              *
delegate                           18      labelidx       *
catch_all                          19      -              *
try_table                          1F      try_table      *
"""

# The threads proposal: shared memories' atomic accesses, wait/notify and fence (prefix 0xFE).
_TABLE += """
[threads]
memory.atomic.notify               FE:0    memarg         i32 i32 : i32
memory.atomic.wait32               FE:1    memarg         i32 i32 i64 : i32
memory.atomic.wait64               FE:2    memarg         i32 i64 i64 : i32
atomic.fence                       FE:3    zero           - : -
i32.atomic.load                    FE:16   memarg         i32 : i32
i64.atomic.load                    FE:17   memarg         i32 : i64
i32.atomic.load8_u                 FE:18   memarg         i32 : i32
i32.atomic.load16_u                FE:19   memarg         i32 : i32
i64.atomic.load8_u                 FE:20   memarg         i32 : i64
i64.atomic.load16_u                FE:21   memarg         i32 : i64
i64.atomic.load32_u                FE:22   memarg         i32 : i64
i32.atomic.store                   FE:23   memarg         i32 i32 : -
i64.atomic.store                   FE:24   memarg         i32 i64 : -
i32.atomic.store8                  FE:25   memarg         i32 i32 : -
i32.atomic.store16                 FE:26   memarg         i32 i32 : -
i64.atomic.store8                  FE:27   memarg         i32 i64 : -
i64.atomic.store16                 FE:28   memarg         i32 i64 : -
i64.atomic.store32                 FE:29   memarg         i32 i64 : -
i32.atomic.rmw.add                 FE:30   memarg         i32 i32 : i32
i64.atomic.rmw.add                 FE:31   memarg         i32 i64 : i64
i32.atomic.rmw8.add_u              FE:32   memarg         i32 i32 : i32
i32.atomic.rmw16.add_u             FE:33   memarg         i32 i32 : i32
i64.atomic.rmw8.add_u              FE:34   memarg         i32 i64 : i64
i64.atomic.rmw16.add_u             FE:35   memarg         i32 i64 : i64
i64.atomic.rmw32.add_u             FE:36   memarg         i32 i64 : i64
i32.atomic.rmw.sub                 FE:37   memarg         i32 i32 : i32
i64.atomic.rmw.sub                 FE:38   memarg         i32 i64 : i64
i32.atomic.rmw8.sub_u              FE:39   memarg         i32 i32 : i32
i32.atomic.rmw16.sub_u             FE:40   memarg         i32 i32 : i32
i64.atomic.rmw8.sub_u              FE:41   memarg         i32 i64 : i64
i64.atomic.rmw16.sub_u             FE:42   memarg         i32 i64 : i64
i64.atomic.rmw32.sub_u             FE:43   memarg         i32 i64 : i64
i32.atomic.rmw.and                 FE:44   memarg         i32 i32 : i32
i64.atomic.rmw.and                 FE:45   memarg         i32 i64 : i64
i32.atomic.rmw8.and_u              FE:46   memarg         i32 i32 : i32
i32.atomic.rmw16.and_u             FE:47   memarg         i32 i32 : i32
i64.atomic.rmw8.and_u              FE:48   memarg         i32 i64 : i64
i64.atomic.rmw16.and_u             FE:49   memarg         i32 i64 : i64
i64.atomic.rmw32.and_u             FE:50   memarg         i32 i64 : i64
i32.atomic.rmw.or                  FE:51   memarg         i32 i32 : i32
i64.atomic.rmw.or                  FE:52   memarg         i32 i64 : i64
i32.atomic.rmw8.or_u               FE:53   memarg         i32 i32 : i32
i32.atomic.rmw16.or_u              FE:54   memarg         i32 i32 : i32
i64.atomic.rmw8.or_u               FE:55   memarg         i32 i64 : i64
i64.atomic.rmw16.or_u              FE:56   memarg         i32 i64 : i64
i64.atomic.rmw32.or_u              FE:57   memarg         i32 i64 : i64
i32.atomic.rmw.xor                 FE:58   memarg         i32 i32 : i32
i64.atomic.rmw.xor                 FE:59   memarg         i32 i64 : i64
i32.atomic.rmw8.xor_u              FE:60   memarg         i32 i32 : i32
i32.atomic.rmw16.xor_u             FE:61   memarg         i32 i32 : i32
i64.atomic.rmw8.xor_u              FE:62   memarg         i32 i64 : i64
i64.atomic.rmw16.xor_u             FE:63   memarg         i32 i64 : i64
i64.atomic.rmw32.xor_u             FE:64   memarg         i32 i64 : i64
i32.atomic.rmw.xchg                FE:65   memarg         i32 i32 : i32
i64.atomic.rmw.xchg                FE:66   memarg         i32 i64 : i64
i32.atomic.rmw8.xchg_u             FE:67   memarg         i32 i32 : i32
i32.atomic.rmw16.xchg_u            FE:68   memarg         i32 i32 : i32
i64.atomic.rmw8.xchg_u             FE:69   memarg         i32 i64 : i64
i64.atomic.rmw16.xchg_u            FE:70   memarg         i32 i64 : i64
i64.atomic.rmw32.xchg_u            FE:71   memarg         i32 i64 : i64
i32.atomic.rmw.cmpxchg             FE:72   memarg         i32 i32 i32 : i32
i64.atomic.rmw.cmpxchg             FE:73   memarg         i32 i64 i64 : i64
i32.atomic.rmw8.cmpxchg_u          FE:74   memarg         i32 i32 i32 : i32
i32.atomic.rmw16.cmpxchg_u         FE:75   memarg         i32 i32 i32 : i32
i64.atomic.rmw8.cmpxchg_u          FE:76   memarg         i32 i64 i64 : i64
i64.atomic.rmw16.cmpxchg_u         FE:77   memarg         i32 i64 i64 : i64
i64.atomic.rmw32.cmpxchg_u         FE:78   memarg         i32 i64 i64 : i64
"""

# The GC proposal (prefix 0xFB, and ref.eq).  ``ref.test``/``ref.cast`` have two encodings
# each, for a non-nullable and a nullable target type (the text parser picks one from the
# type, as it does for ``select``).
_TABLE += """
[gc]
ref.eq                             D3      -              *
struct.new                         FB:0    typeidx        *
struct.new_default                 FB:1    typeidx        *
struct.get                         FB:2    typeidx_field  *
struct.get_s                       FB:3    typeidx_field  *
struct.get_u                       FB:4    typeidx_field  *
struct.set                         FB:5    typeidx_field  *
array.new                          FB:6    typeidx        *
array.new_default                  FB:7    typeidx        *
array.new_fixed                    FB:8    typeidx_n      *
array.new_data                     FB:9    typeidx_data   *
array.new_elem                     FB:10   typeidx_elem   *
array.get                          FB:11   typeidx        *
array.get_s                        FB:12   typeidx        *
array.get_u                        FB:13   typeidx        *
array.set                          FB:14   typeidx        *
array.len                          FB:15   -              *
array.fill                         FB:16   typeidx        *
array.copy                         FB:17   typeidx_pair   *
array.init_data                    FB:18   typeidx_data   *
array.init_elem                    FB:19   typeidx_elem   *
ref.test                           FB:20   castref        *
ref.test                           FB:21   castref        *
ref.cast                           FB:22   castref        *
ref.cast                           FB:23   castref        *
br_on_cast                         FB:24   br_on_cast     *
br_on_cast_fail                    FB:25   br_on_cast     *
any.convert_extern                 FB:26   -              *
extern.convert_any                 FB:27   -              *
ref.i31                            FB:28   -              *
i31.get_s                          FB:29   -              *
i31.get_u                          FB:30   -              *
"""

# Catch clause kinds of try_table (their binary codes).
CATCH, CATCH_REF, CATCH_ALL, CATCH_ALL_REF = range(4)
CATCH_NAMES = ("catch", "catch_ref", "catch_all", "catch_all_ref")


class Op:
    """One instruction of the table.  Instances are unique: compare them with ``is``."""

    __slots__ = ("name", "prefix", "code", "imm", "params", "results", "id", "align", "lanes",
                 "feature", "type", "shape", "family", "operator")

    def __init__(self, name, prefix, code, imm, params, results, id, feature=None):
        self.name = name
        self.prefix = prefix      # 0 for single-byte opcodes, else 0xFC or 0xFD
        self.code = code          # the byte, or the u32 sub-opcode after the prefix
        self.imm = imm            # immediate kind, see the module docstring
        self.params = params      # tuple of value types, or None when typed by context
        self.results = results
        self.id = id              # dense index into OPS, for dispatch tables in the tiers
        self.align = None         # natural alignment exponent of memory accesses
        self.lanes = None         # number of lanes addressed by a lane index immediate
        self.feature = feature    # the proposal that adds it (wasmforge.features), None in 2.0
        # The structure of the name, set by _classify (see FAMILIES):
        self.type = None          # value type operated on: i32 i64 f32 f64 v128, else None
        self.shape = None         # SIMD lane shape (i8x16 ... f64x2), or "v128"; else None
        self.family = None        # one of FAMILIES
        self.operator = None      # the name after the type or class: "add", "load8_s", ...

    def __repr__(self) -> str:
        return f"<Op {self.name}>"

    def __reduce__(self):
        return (_op_by_id, (self.id,))

    @property
    def opcode_bytes(self) -> bytes:
        """The shortest binary encoding of the opcode."""
        if not self.prefix:
            return bytes([self.code])
        out = [self.prefix]
        v = self.code
        while True:
            b = v & 0x7F
            v >>= 7
            if v:
                out.append(b | 0x80)
            else:
                out.append(b)
                return bytes(out)


OPS: list[Op] = []
BY_NAME: dict[str, Op] = {}
SINGLE: list = [None] * 256           # single-byte opcode -> Op
PREFIXED: dict[int, dict[int, Op]] = {0xFB: {}, 0xFC: {}, 0xFD: {}, 0xFE: {}}

_LANES = {"i8x16": 16, "i16x8": 8, "i32x4": 4, "i64x2": 2, "f32x4": 4, "f64x2": 2}


def _access_bytes(name: str) -> int:
    """Bytes accessed by a load/store, from its name (spec 3.3.7: alignment must not exceed it)."""
    shape, _, op = name.partition(".")
    if "atomic" in name:            # threads: i32.atomic.rmw8.add_u, memory.atomic.wait64 ...
        for bits in ("64", "32", "16", "8"):
            if name.endswith("wait" + bits) or (".rmw" + bits + ".") in name or (
                    ".load" + bits) in name or (".store" + bits) in name:
                return int(bits) // 8
        return 4 if shape in ("i32", "memory") else 8
    for size in ("8x8", "16x4", "32x2"):
        if op.startswith("load" + size):
            return 8
    for bits in ("64", "32", "16", "8"):
        if op.startswith(("load" + bits, "store" + bits)):
            return int(bits) // 8
    return {"i32": 4, "f32": 4, "i64": 8, "f64": 8, "v128": 16}[shape]


def _op_by_id(i: int) -> Op:
    return OPS[i]


#: Families of instructions (after the spec's classes of instructions, 2.4): what ``Op.family``
#: holds.  Numeric and vector instructions are told apart by ``Op.type``.
FAMILIES = ("control", "parametric", "variable", "table", "memory", "ref", "const", "load",
            "store", "atomic", "unop", "binop", "ternop", "testop", "relop", "cvtop", "shiftop",
            "bitmask", "splat", "lane", "shuffle")

_NUMTYPES = ("i32", "i64", "f32", "f64")
_RELOPS = frozenset(("eq", "ne", "lt", "gt", "le", "ge", "lt_s", "lt_u", "gt_s", "gt_u",
                     "le_s", "le_u", "ge_s", "ge_u"))


def _classify(op: Op) -> None:
    """Set ``op``'s type, shape, family and operator from its name, immediates and signature.

    The rules (a proposal's rows need no column of their own): a name without a dot is
    control, except ``drop`` and ``select``; ``local.*``/``global.*`` are variable
    instructions, ``table.*``/``elem.drop`` table ones, ``memory.*``/``data.drop`` memory ones,
    ``ref.*`` reference ones; a ``memarg`` is a load, a store or (neither in its operator) an
    atomic access; then numeric and vector instructions by operator and signature: ``eqz``
    and ``*_true`` are tests, comparisons are relops, a unary operation changing the type (or,
    for vectors, naming a source shape) is a conversion, the rest unop/binop/ternop by arity.
    """
    head, dot, rest = op.name.partition(".")
    op.operator = rest if dot else head
    if op.imm in ("memarg", "memarg_lane"):
        op.family = ("atomic" if "atomic" in rest else
                     "load" if "load" in rest else "store" if "store" in rest else "atomic")
    elif not dot:
        op.family = "parametric" if head in ("drop", "select") else "control"
    elif head in ("local", "global"):
        op.family = "variable"
    elif head == "table" or op.name == "elem.drop":
        op.family = "table"
    elif head == "memory" or op.name == "data.drop":
        op.family = "memory"
    elif head == "ref":
        op.family = "ref"
    if head in _NUMTYPES:
        op.type = head
    elif head == "v128" or head in _LANES:
        op.type, op.shape = "v128", head
    if op.family is not None or op.type is None:
        if op.family is None:
            op.family = "control"       # an instruction class of a later proposal
        return
    params, results = op.params or (), op.results or ()
    if rest == "const":
        op.family = "const"
    elif rest == "eqz" or rest.endswith("_true"):
        op.family = "testop"
    elif rest in _RELOPS:
        op.family = "relop"
    elif rest == "bitmask":
        op.family = "bitmask"
    elif rest == "splat":
        op.family = "splat"
    elif rest.startswith(("extract_lane", "replace_lane")):
        op.family = "lane"
    elif rest == "shuffle":
        op.family = "shuffle"
    elif op.shape is not None and params == ("v128", "i32"):
        op.family = "shiftop"
    elif len(params) == 1 and (params[0] != results[0] or (
            op.shape is not None and any(s in rest for s in _LANES))):
        op.family = "cvtop"
    else:
        op.family = ("unop", "binop", "ternop")[len(params) - 1]


def _build() -> None:
    feature = None
    for line in _TABLE.strip().splitlines():
        if not line.strip():
            continue
        if line.startswith("["):
            feature = line.strip()[1:-1]
            continue
        name, code, imm, sig = line.split(None, 3)
        if code.startswith(("FB:", "FC:", "FD:", "FE:")):
            prefix, code = int(code[:2], 16), int(code[3:])
        else:
            prefix, code = 0, int(code, 16)
        if sig == "*":
            params = results = None
        else:
            p, _, r = sig.partition(" : ")
            params = () if p == "-" else tuple(p.split())
            results = () if r == "-" else tuple(r.split())
        op = Op(name, prefix, code, imm, params, results, len(OPS), feature)
        _classify(op)
        if imm in ("memarg", "memarg_lane"):
            op.align = _access_bytes(name).bit_length() - 1
        if imm == "laneidx":
            op.lanes = _LANES[name.split(".")[0]]
        elif imm == "memarg_lane":
            op.lanes = 16 >> op.align
        OPS.append(op)
        if prefix:
            PREFIXED[prefix][code] = op
        else:
            SINGLE[code] = op
        # Typed `select` (0x1C) shares the name of plain `select`; the text parser picks the
        # encoding from the presence of a result type.
        if name not in BY_NAME:
            BY_NAME[name] = op


_build()

SELECT = SINGLE[0x1B]
SELECT_T = SINGLE[0x1C]
BLOCK, LOOP, IF, ELSE, END = (SINGLE[c] for c in (0x02, 0x03, 0x04, 0x05, 0x0B))
TRY, CATCH_OP, THROW, RETHROW, THROW_REF, DELEGATE, CATCH_ALL_OP, TRY_TABLE = (
    SINGLE[c] for c in (0x06, 0x07, 0x08, 0x09, 0x0A, 0x18, 0x19, 0x1F))


def memidx_of(instr: tuple) -> int:
    """The memory index of a ``memarg`` / ``memarg_lane`` instruction (multi-memory).  It is a
    trailing immediate present only when not 0, so ``(op, align, offset)`` is memory 0's
    access whatever built it (decoder, parser, a tier's own code)."""
    n = 4 if instr[0].imm == "memarg" else 5
    return instr[n - 1] if len(instr) == n else 0


def op(name: str) -> Op:
    """The instruction named ``name`` in the text format (``select`` is the untyped form)."""
    return BY_NAME[name]


# ----- proposals beyond 2.0 -----
#
# Instructions that are in the table above (2.0 has them in function bodies) but that a
# proposal of WebAssembly 3.0 newly allows elsewhere.  The validator, the constant-expression
# evaluator (runtime/constexpr.py) and `wasmforge inspect` (which lists the features a module
# uses) all read these sets, so a proposal is switched on or off in one place.

#: extended-const: integer add/sub/mul in constant expressions (global initialisers,
#: segment offsets and element items), besides the 2.0 constants and ``global.get``.
EXTENDED_CONST = frozenset(BY_NAME[n] for n in ("i32.add", "i32.sub", "i32.mul",
                                                "i64.add", "i64.sub", "i64.mul"))


__all__ = ["Op", "OPS", "BY_NAME", "SINGLE", "PREFIXED", "op", "memidx_of", "SELECT", "SELECT_T", "BLOCK", "LOOP", "IF", "ELSE", "END", "EXTENDED_CONST",
           "TRY", "CATCH_OP", "THROW", "RETHROW", "THROW_REF", "DELEGATE", "CATCH_ALL_OP", "TRY_TABLE",
           "CATCH", "CATCH_REF", "CATCH_ALL", "CATCH_ALL_REF", "CATCH_NAMES"]
