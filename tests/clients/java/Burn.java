/**
 * Burns CPU in {@link #spin} for the number of seconds given as the first argument, so that a
 * JFR recording started with -XX:StartFlightRecording holds jdk.ExecutionSample events whose
 * stacks end in Burn.spin. The recording is written when the JVM exits.
 */
public final class Burn {
    static volatile long sink;

    static long spin(long untilNanos) {
        long x = 1;
        while (System.nanoTime() < untilNanos) {
            for (int i = 0; i < 100_000; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
            }
        }
        return x;
    }

    public static void main(String[] args) {
        long seconds = args.length > 0 ? Long.parseLong(args[0]) : 5;
        sink = spin(System.nanoTime() + seconds * 1_000_000_000L);
        System.out.println("burned " + seconds + " s");
    }
}
