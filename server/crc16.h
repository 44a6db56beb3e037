/* crc16: the Redis Cluster key slot (CRC16-CCITT/XMODEM of the key, or of
 * its {hash tag}, modulo 16384), so hash tags co-locate keys on one shard
 * exactly as they would on one Redis Cluster node. */
#ifndef SHALE_CRC16_H
#define SHALE_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define CRC16_SLOTS 16384

uint16_t shale_crc16(const char *buf, size_t len);
/* Slot of a key, honouring the first non-empty {hash tag}. */
unsigned shale_crc16_key_slot(const char *key, size_t len);

#endif
