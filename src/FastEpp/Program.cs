using FastEpp.Hosting;

return await EppProgram.RunAsync(args);
