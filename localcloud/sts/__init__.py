"""STS: sessions that expire, and the fixes to moto's STS."""
