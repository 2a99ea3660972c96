using System.Text;
using FastEpp.GoCompat;

namespace FastEpp.Tests.GoCompat;

public class GoFloatTests
{
    // Go floatEncoder (encode.go): 'f' for 1e-6 <= |x| < 1e21, else 'e' with e-0X cleaned to e-X.
    [Theory]
    [InlineData(1.0, "1")]
    [InlineData(1.5, "1.5")]
    [InlineData(100.0, "100")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e21, "1e+21")]
    [InlineData(1e20, "100000000000000000000")]
    [InlineData(123456789012345678.0, "123456789012345680")]
    [InlineData(12345678901234567890.0, "12345678901234567000")]
    [InlineData(1e-6, "0.000001")]
    [InlineData(2.5e-5, "0.000025")]
    [InlineData(1e-7, "1e-7")]
    [InlineData(1.5e-7, "1.5e-7")]
    [InlineData(-1e-10, "-1e-10")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(-0.0, "-0")]
    [InlineData(0.0, "0")]
    [InlineData(-123.456, "-123.456")]
    [InlineData(4294967295.0, "4294967295")]
    public void FormatJson_MatchesGoFloatEncoder(double value, string expected)
    {
        Span<byte> buf = stackalloc byte[400];
        int n = GoFloat.FormatJson(value, buf);
        Assert.Equal(expected, Encoding.ASCII.GetString(buf[..n]));
    }
}
