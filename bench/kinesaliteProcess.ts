/**
 * kinesalite in a child process on a free port, for the benchmarks: it must not share the
 * measured event loop (a real Kinesis is remote). The child exits when its parent does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Starts kinesalite in a child process on a free port; resolves to its endpoint. */
export async function startKinesaliteProcess(): Promise<{ endpoint: string; child: ChildProcess }> {
  const script =
    "const s=require('kinesalite')({createStreamMs:0,shardLimit:1000});" +
    "s.listen(0,'127.0.0.1',()=>process.stdout.write(s.address().port+'\\n'));" +
    "process.on('disconnect',()=>process.exit(0));";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('kinesalite did not start within 10 s')), 10_000)),
  ])) as [Buffer];
  return { endpoint: `http://127.0.0.1:${line.toString().trim()}`, child };
}
