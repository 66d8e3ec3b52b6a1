// Constants of glibc's logf and sincosf (sysdeps/ieee754/flt-32/e_logf_data.c,
// s_sincosf_data.c), each double split into floats (hi, lo) exactly as
// far as 48 bits go; pi/2 in three floats. Generated once from the hex doubles.
// glibc's logf table {invc, logc}, each double as a float pair (hi, lo).
const uint LOGF_TAB[64] = uint[64](0x3fb30f64u, 0xb2c0e188u, 0xbeabdfbcu, 0xb00caadeu, 0x3fab8f6au, 0x332af884u, 0xbe95f785u, 0xb1f80dbbu, 0x3fa4a9d0u, 0xb370fef5u, 0xbe80f574u, 0x302ec599u, 0x3f9e4caeu, 0xb3747fc8u, 0xbe598ec5u, 0xb150449du, 0x3f9868c8u, 0x3348864au, 0xbe32ba78u, 0xb1ac0776u, 0x3f92f114u, 0xb29e8e2cu, 0xbe0d515eu, 0xb1739020u, 0x3f8dda52u, 0x3321a344u, 0xbdd273b6u, 0xb168c0e6u, 0x3f891ac8u, 0xb37751a4u, 0xbd8cb9e3u, 0x30b3dc66u, 0x3f84a9fau, 0x31cc8054u, 0xbd1297a2u, 0x3063de7cu, 0x3f800000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x3f730468u, 0xb1996e15u, 0x3d552d53u, 0xaf83699fu, 0x3f652599u, 0xb0fd9560u, 0x3de2f29du, 0x312362ebu, 0x3f5901b3u, 0xb2895032u, 0x3e29372cu, 0xb18df250u, 0x3f4e168bu, 0x31e86a8bu, 0x3e5e1430u, 0x31d22477u, 0x3f443730u, 0x31de107bu, 0x3e882c5eu, 0x320a07eeu, 0x3f3b3ee8u, 0xb2aacb7au, 0x3ea02183u, 0xb204911fu);
#define LOGF_LN2 vec2(uintBitsToFloat(0x3f317218u), uintBitsToFloat(0xb102e308u))  // 0x1.62e42fefa39efp-1
#define LOGF_A0 vec2(uintBitsToFloat(0xbe80751au), uintBitsToFloat(0xb20b8833u))  // -0x1.00ea348b88334p-2
#define LOGF_A1 vec2(uintBitsToFloat(0x3eaabad8u), uintBitsToFloat(0x323e00b7u))  // 0x1.5575b0be00b6ap-2
#define LOGF_A2 vec2(uintBitsToFloat(0xbefffff8u), uintBitsToFloat(0x325f5beeu))  // -0x1.ffffef20a4123p-2
#define SC_HPI_INV vec2(uintBitsToFloat(0x4b22f983u), uintBitsToFloat(0x3edc9c88u))  // 0x1.45F306DC9C883p+23
#define SC_HPI0 uintBitsToFloat(0x3fc90fdbu)
#define SC_HPI1 uintBitsToFloat(0xb33bbd2eu)
#define SC_HPI2 uintBitsToFloat(0xa7000000u)  // pi/2 as a double, exactly
#define SC_C0 vec2(uintBitsToFloat(0x3f800000u), uintBitsToFloat(0x00000000u))  // 0x1p0
#define SC_C1 vec2(uintBitsToFloat(0xbf000000u), uintBitsToFloat(0x313ce779u))  // -0x1.ffffffd0c621cp-2
#define SC_C2 vec2(uintBitsToFloat(0x3d2aaa9fu), uintBitsToFloat(0x2f03478cu))  // 0x1.55553e1068f19p-5
#define SC_C3 vec2(uintBitsToFloat(0xbab6043fu), uintBitsToFloat(0xae09a35au))  // -0x1.6c087e89a359dp-10
#define SC_C4 vec2(uintBitsToFloat(0x37cc9a18u), uintBitsToFloat(0x2a1efe31u))  // 0x1.99343027bf8c3p-16
#define SC_S1 vec2(uintBitsToFloat(0xbe2aaaa3u), uintBitsToFloat(0x314d4b40u))  // -0x1.555545995a603p-3
#define SC_S2 vec2(uintBitsToFloat(0x3c0883b0u), uintBitsToFloat(0x2f246178u))  // 0x1.1107605230bc4p-7
#define SC_S3 vec2(uintBitsToFloat(0xb94ca75au), uintBitsToFloat(0x2c88b30eu))  // -0x1.994eb3774cf24p-13
#define TWO_PI_D vec2(uintBitsToFloat(0x40c90fdbu), uintBitsToFloat(0xb43bbd2eu))  // 0x1.921fb54442d18p+2
