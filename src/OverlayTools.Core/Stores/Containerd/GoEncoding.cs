using System;
using System.Buffers.Binary;

namespace OverlayTools.Stores.Containerd;

/// <summary>
/// Decoders for the values containerd stores in its bbolt files: Go's encoding/binary varints and
/// time.Time.MarshalBinary. (Digests that become paths are checked with StoreFormat.IsDigest, as in
/// the other stores.)
/// </summary>
internal static class GoEncoding
{
    /// <summary>Go binary.Uvarint, strict: the whole value must be one varint of at most 10 bytes.</summary>
    internal static bool TryUvarint(ReadOnlySpan<byte> data, out ulong value)
    {
        value = 0;
        int shift = 0;
        for (int i = 0; i < data.Length; i++)
        {
            byte b = data[i];
            if (i == 9 && b > 1)
            {
                return false; // overflows 64 bits
            }
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return i == data.Length - 1;
            }
            shift += 7;
            if (i >= 9)
            {
                return false;
            }
        }
        return false;
    }

    /// <summary>Go binary.Varint (zig-zag), strict like <see cref="TryUvarint"/>.</summary>
    internal static bool TryVarint(ReadOnlySpan<byte> data, out long value)
    {
        value = 0;
        if (!TryUvarint(data, out ulong u))
        {
            return false;
        }
        value = (long)(u >> 1) ^ -(long)(u & 1);
        return true;
    }

    /// <summary>
    /// Go time.Time.MarshalBinary: version 1 or 2, seconds since 0001-01-01 (big-endian int64),
    /// nanoseconds (uint32), zone offset in minutes (int16, -1 for UTC), and in version 2 a byte of
    /// offset seconds. Returned in UTC.
    /// </summary>
    internal static DateTime? TryTime(ReadOnlySpan<byte> data)
    {
        if (data.Length < 15 || (data[0] == 1 && data.Length != 15) || (data[0] == 2 && data.Length != 16) || data[0] is not (1 or 2))
        {
            return null;
        }
        long seconds = BinaryPrimitives.ReadInt64BigEndian(data[1..]);
        uint nanos = BinaryPrimitives.ReadUInt32BigEndian(data[9..]);
        if (nanos >= 1_000_000_000 || seconds < 0 || seconds > (long)(DateTime.MaxValue - DateTime.MinValue).TotalSeconds)
        {
            return null;
        }
        if (seconds == 0 && nanos == 0)
        {
            return null; // Go's zero time: "not set", as StoreFormat.ParseTime reads it in JSON
        }
        // The instant is absolute; the zone offset only tells how Go would print it.
        return new DateTime(1, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks((seconds * TimeSpan.TicksPerSecond) + (nanos / 100));
    }
}
